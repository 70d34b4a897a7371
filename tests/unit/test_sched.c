/* SPDX-License-Identifier: MIT */
/* test_sched.c -- the batching engine (hr_engine_*) on the bundled model:
 * concurrent greedy streams equal their serial outputs, cancellation frees
 * the slot, the queue bound, KV prefix reuse, and embeddings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "util/alloc.h"
#include "util/err.h"

#define MAX_JOBS 32

static const char *PROMPTS[] = {
    "Once upon a time", "The cat", "Tom and Sue went", "One day, a little bird",
    "There was a big dog", "Lily wanted to", "The sun was", "Ben had a red ball",
};

typedef struct run {
    hr_buf text[MAX_JOBS];
    hr_gen_result res[MAX_JOBS];
    int err[MAX_JOBS];
    float *embd[MAX_JOBS];
    int32_t n_embd[MAX_JOBS];
    int done;
    int max_busy;
} run;

static hr_model *model;

static int setup(void **state)
{
    char err[256];
    hr_engine_init(false);
    if (hr_model_load(&model, HEARTH_TEST_MODEL, NULL, err, sizeof err) != 0) {
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    hr_model_free(model);
    return 0;
}

static void submit(hr_engine *e, uint64_t id, const char *prompt, int max_tokens, bool embed)
{
    hr_job j = {.id = id, .embed = embed};
    hr_gen_params_init(&j.params);
    j.params.temperature = 0.0f;
    j.params.max_tokens = max_tokens;
    assert_int_equal(hr_model_tokenize(model, prompt, strlen(prompt), true, true, &j.tokens,
                                       &j.n_tokens), 0);
    assert_int_equal(hr_engine_submit(e, &j), 0);
    assert_null(j.tokens);
}

/* Poll events until n jobs are done. */
static void drain(hr_engine *e, run *r, int n)
{
    while (r->done < n) {
        struct pollfd pfd = {.fd = hr_engine_fd(e), .events = POLLIN};
        assert_true(poll(&pfd, 1, 10000) == 1);
        hr_engine_stats st;
        hr_engine_get_stats(e, &st);
        r->max_busy = (int)st.slots_busy > r->max_busy ? (int)st.slots_busy : r->max_busy;
        for (hr_engine_event *ev = hr_engine_poll(e), *next; ev; ev = next) {
            next = ev->next;
            assert_true(ev->id < MAX_JOBS);
            if (ev->type == HR_EV_TOKEN) {
                hr_buf_append(&r->text[ev->id], ev->tok.text, ev->tok.text_len);
            } else if (ev->type == HR_EV_EMBEDDING) {
                r->embd[ev->id] = ev->embd;
                r->n_embd[ev->id] = ev->n_embd;
                ev->embd = NULL;
            } else {
                r->res[ev->id] = ev->res;
                r->err[ev->id] = ev->err;
                r->done++;
            }
            hr_engine_event_free(ev);
        }
    }
}

static void run_free(run *r)
{
    for (int i = 0; i < MAX_JOBS; i++) {
        hr_buf_deinit(&r->text[i]);
        hr_free(r->embd[i]);
    }
}

/* What a single-stream session produces for the same prompt. */
static bool collect_cb(const hr_gen_event *ev, void *ud)
{
    hr_buf_append(ud, ev->text, ev->text_len);
    return true;
}

static void serial(const char *prompt, int max_tokens, hr_buf *out)
{
    hr_session *s = NULL;
    char err[128];
    assert_int_equal(hr_session_new(&s, model, NULL, err, sizeof err), 0);
    hr_gen_params p;
    hr_gen_params_init(&p);
    p.temperature = 0.0f;
    p.max_tokens = max_tokens;
    assert_int_equal(hr_session_generate(s, prompt, strlen(prompt), &p, collect_cb, out, NULL,
                                         err, sizeof err), 0);
    hr_session_free(s);
}

static void test_concurrent_equals_serial(void **state)
{
    char err[256];
    hr_engine *e = NULL;
    hr_engine_opts o = {.n_slots = 4, .n_threads = 2};
    assert_int_equal(hr_engine_open(&e, model, &o, err, sizeof err), 0);
    run r = {0};
    for (uint64_t i = 0; i < 16; i++) {
        submit(e, i, PROMPTS[i % 8], 48, false);
    }
    drain(e, &r, 16);
    assert_int_equal(r.max_busy, 4);
    for (int i = 0; i < 16; i++) {
        hr_buf want = {0};
        serial(PROMPTS[i % 8], 48, &want);
        assert_int_equal(r.err[i], 0);
        if (strcmp(r.text[i].p ? r.text[i].p : "", want.p ? want.p : "") != 0) {
            fail_msg("job %d: batched '%s' != serial '%s'", i, r.text[i].p, want.p);
        }
        assert_int_equal(r.res[i].n_generated, 48);
        assert_int_equal(r.res[i].finish, HR_FINISH_LENGTH);
        hr_buf_deinit(&want);
    }
    run_free(&r);
    hr_engine_close(e);
}

static void test_cancel_frees_slot(void **state)
{
    char err[256];
    hr_engine *e = NULL;
    hr_engine_opts o = {.n_slots = 1, .n_threads = 2, .max_queue = 1};
    assert_int_equal(hr_engine_open(&e, model, &o, err, sizeof err), 0);
    submit(e, 0, "Once upon a time", 100000, false);
    submit(e, 1, "The cat", 100000, false);
    run r = {0};
    while (r.text[0].len == 0) { /* job 0 is running */
        struct pollfd pfd = {.fd = hr_engine_fd(e), .events = POLLIN};
        assert_true(poll(&pfd, 1, 10000) == 1);
        for (hr_engine_event *ev = hr_engine_poll(e), *next; ev; ev = next) {
            next = ev->next;
            assert_int_equal(ev->type, HR_EV_TOKEN);
            hr_buf_append(&r.text[ev->id], ev->tok.text, ev->tok.text_len);
            hr_engine_event_free(ev);
        }
    }
    /* One slot busy, one job queued: the next is refused. */
    hr_job j = {.id = 2};
    hr_gen_params_init(&j.params);
    assert_int_equal(hr_model_tokenize(model, "x", 1, true, true, &j.tokens, &j.n_tokens), 0);
    int rc = hr_engine_submit(e, &j);
    assert_int_equal(rc, HR_EQUEUEFULL);
    assert_non_null(j.tokens); /* still ours */
    hr_free(j.tokens);
    hr_engine_cancel(e, 1); /* queued */
    hr_engine_cancel(e, 0); /* running */
    drain(e, &r, 2);
    assert_int_equal(r.res[0].finish, HR_FINISH_CANCELED);
    assert_int_equal(r.res[1].finish, HR_FINISH_CANCELED);
    assert_true(r.res[0].n_generated < 2000);
    hr_engine_stats st;
    hr_engine_get_stats(e, &st);
    assert_int_equal(st.slots_busy, 0);
    assert_int_equal(st.queue_depth, 0);
    /* The freed slot serves the next job, whose prompt shares a prefix with
     * what the slot last held. */
    submit(e, 3, "Once upon a time", 8, false);
    drain(e, &r, 3);
    assert_true(r.res[3].n_prompt_cached > 0);
    assert_int_equal(r.res[3].n_generated, 8);
    run_free(&r);
    hr_engine_close(e);
}

/* A long prompt is decoded in n_batch chunks between the steps of running
 * streams, so they keep producing tokens while it is processed. */
static void test_long_prompt_does_not_stall_streams(void **state)
{
    char err[256];
    hr_engine *e = NULL;
    hr_engine_opts o = {.n_slots = 2, .n_threads = 2, .n_batch = 64};
    assert_int_equal(hr_engine_open(&e, model, &o, err, sizeof err), 0);
    submit(e, 0, "Once upon a time", 100000, false);
    hr_buf longp = {0};
    for (int i = 0; i < 150; i++) {
        hr_buf_append_str(&longp, "The cat sat. ");
    }
    run r = {0};
    bool submitted = false;
    int a_during = 0; /* job 0's tokens between job 1's submission and its first token */
    bool b_started = false;
    while (!b_started) {
        struct pollfd pfd = {.fd = hr_engine_fd(e), .events = POLLIN};
        assert_true(poll(&pfd, 1, 10000) == 1);
        for (hr_engine_event *ev = hr_engine_poll(e), *next; ev; ev = next) {
            next = ev->next;
            if (ev->id == 0 && ev->type == HR_EV_TOKEN && submitted && !b_started) {
                a_during++;
            }
            if (ev->id == 1 && ev->type == HR_EV_TOKEN) {
                b_started = true;
            }
            hr_engine_event_free(ev);
        }
        if (!submitted) {
            submit(e, 1, longp.p, 4, false);
            submitted = true;
        }
    }
    int32_t *toks = NULL;
    size_t n = 0;
    hr_model_tokenize(model, longp.p, longp.len, true, true, &toks, &n);
    /* At least one token of the running stream per prompt chunk. */
    assert_true(n > 600);
    if (a_during < (int)(n / 64) - 1) {
        fail_msg("stream produced %d tokens while a %zu-token prompt was decoded", a_during, n);
    }
    hr_free(toks);
    hr_engine_cancel(e, 0);
    hr_engine_cancel(e, 1);
    drain(e, &r, 2);
    hr_buf_deinit(&longp);
    run_free(&r);
    hr_engine_close(e);
}

static void test_embeddings(void **state)
{
    char err[256];
    hr_engine *e = NULL;
    assert_int_equal(hr_engine_open(&e, model, NULL, err, sizeof err), 0);
    submit(e, 0, "The cat sat on the mat", 0, true);
    submit(e, 1, "The cat sat on the mat", 0, true);
    submit(e, 2, "A big red ball", 0, true);
    run r = {0};
    drain(e, &r, 3);
    assert_int_equal(r.n_embd[0], 64);
    double norm = 0, same = 0, diff = 0;
    for (int i = 0; i < 64; i++) {
        norm += r.embd[0][i] * r.embd[0][i];
        same += r.embd[0][i] * r.embd[1][i];
        diff += r.embd[0][i] * r.embd[2][i];
    }
    assert_float_equal(norm, 1.0, 1e-4);
    assert_float_equal(same, 1.0, 1e-4);
    assert_true(diff < 0.9999);
    run_free(&r);
    hr_engine_close(e);
}

static void test_bad_submissions(void **state)
{
    char err[256];
    hr_engine *e = NULL;
    hr_engine_opts o = {.n_slots = 2, .n_ctx = 64};
    assert_int_equal(hr_engine_open(&e, model, &o, err, sizeof err), 0);
    assert_int_equal(hr_engine_n_ctx_slot(e), 32);
    hr_job j = {.id = 1};
    hr_gen_params_init(&j.params);
    assert_int_equal(hr_engine_submit(e, &j), HR_EINVAL); /* no tokens */
    j.tokens = hr_calloc(40, sizeof *j.tokens);
    j.n_tokens = 40;
    assert_int_equal(hr_engine_submit(e, &j), HR_ECTXFULL);
    j.n_tokens = 4;
    j.params.max_tokens = 0;
    assert_int_equal(hr_engine_submit(e, &j), HR_EINVAL);
    hr_free(j.tokens);
    hr_engine_close(e);

    o.n_ctx = 2 * 4096; /* 4096 per slot > 2048 trained */
    assert_int_equal(hr_engine_open(&e, model, &o, err, sizeof err), HR_ECTXFULL);
    assert_null(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_equals_serial),
        cmocka_unit_test(test_cancel_frees_slot),
        cmocka_unit_test(test_long_prompt_does_not_stall_streams),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_bad_submissions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
