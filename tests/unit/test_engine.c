/* SPDX-License-Identifier: MIT */
/* test_engine.c -- src/engine on the bundled stories260k model: loading,
 * metadata, greedy reference text, seeds, logprobs (checked against logits
 * computed here with llama.cpp directly), stop strings, cancellation from
 * another thread, UTF-8 assembly, KV prefix reuse, bad files, and allocation
 * failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gguf.h>

#include "engine/engine_int.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/str.h"

static const char REFERENCE[] = ", there was a little girl named Lily. She loved to play outside "
                                "in the park. One day, she saw a big, red ball.";

static const char *model_path(void)
{
    const char *p = getenv("HEARTH_TEST_MODEL");
    return p ? p : HEARTH_TEST_MODEL;
}

typedef struct fixture {
    hr_model *m;
    hr_session *s;
} fixture;

static int setup(void **state)
{
    static fixture f;
    char err[256];
    hr_engine_init(false);
    if (hr_model_load(&f.m, model_path(), NULL, err, sizeof err) != 0) {
        fprintf(stderr, "load: %s\n", err);
        return -1;
    }
    hr_session_opts so = {.n_threads = 2};
    if (hr_session_new(&f.s, f.m, &so, err, sizeof err) != 0) {
        return -1;
    }
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f) {
        hr_session_free(f->s);
        hr_model_free(f->m);
    }
    return 0;
}

/* Collects every event of one generation. */
typedef struct collect {
    hr_buf text;
    int32_t toks[512];
    float lps[512];
    hr_token_prob top[512][5];
    size_t n_top;
    int n;
    int n_final;
    int stop_at;  /* return false at this token count (0 = never) */
} collect;

static bool on_event(const hr_gen_event *ev, void *ud)
{
    collect *c = ud;
    assert_true(hr_utf8_valid(ev->text, ev->text_len));
    hr_buf_append(&c->text, ev->text, ev->text_len);
    if (c->n < 512) {
        c->toks[c->n] = ev->token;
        c->lps[c->n] = ev->logprob;
        c->n_top = ev->n_top < 5 ? ev->n_top : 5;
        if (c->n_top) {
            memcpy(c->top[c->n], ev->top, c->n_top * sizeof *ev->top);
        }
    }
    c->n++;
    c->n_final += ev->is_final;
    return !(c->stop_at && c->n >= c->stop_at);
}

static int gen(fixture *f, const char *prompt, const hr_gen_params *p, collect *c,
               hr_gen_result *res)
{
    char err[256];
    memset(c, 0, sizeof *c);
    return hr_session_generate(f->s, prompt, strlen(prompt), p, on_event, c, res, err, sizeof err);
}

static void greedy(hr_gen_params *p, int n)
{
    hr_gen_params_init(p);
    p->temperature = 0.0f;
    p->max_tokens = n;
}

static void test_metadata(void **state)
{
    fixture *f = *state;
    hr_model_info in;
    hr_model_get_info(f->m, &in);
    assert_string_equal(in.arch, "llama");
    assert_int_equal(in.n_vocab, 512);
    assert_int_equal(in.n_ctx_train, 2048);
    assert_int_equal(in.n_embd, 64);
    assert_int_equal(in.n_layer, 5);
    assert_false(in.has_chat_template);
    assert_true(in.n_params > 250000 && in.n_params < 350000);
    assert_non_null(strstr(in.quant, "F32"));
    assert_int_equal(hr_session_n_ctx(f->s), 2048);
}

static void test_greedy_reference(void **state)
{
    fixture *f = *state;
    hr_gen_params p;
    collect c;
    hr_gen_result res;
    greedy(&p, 40);
    assert_int_equal(gen(f, "Once upon a time", &p, &c, &res), 0);
    assert_string_equal(c.text.p, REFERENCE);
    assert_int_equal(res.n_generated, 40);
    assert_int_equal(res.finish, HR_FINISH_LENGTH);
    assert_int_equal(c.n_final, 1);
    hr_buf_deinit(&c.text);
}

static void test_seeds(void **state)
{
    fixture *f = *state;
    hr_gen_params p;
    collect a, b, d;
    hr_gen_params_init(&p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.max_tokens = 40;
    p.seed = 42;
    assert_int_equal(gen(f, "Once upon a time", &p, &a, NULL), 0);
    assert_int_equal(gen(f, "Once upon a time", &p, &b, NULL), 0);
    p.seed = 43;
    assert_int_equal(gen(f, "Once upon a time", &p, &d, NULL), 0);
    assert_string_equal(a.text.p, b.text.p);
    assert_string_not_equal(a.text.p, d.text.p);
    hr_buf_deinit(&a.text);
    hr_buf_deinit(&b.text);
    hr_buf_deinit(&d.text);
}

/* Recompute each step's logits with a fresh llama.cpp context and compare
 * the engine's logprobs with log-softmax computed here. */
static void check_logprobs_against_llama(fixture *f, const char *prompt, const collect *c)
{
    int32_t *toks = NULL;
    size_t n = 0;
    assert_int_equal(hr_model_tokenize(f->m, prompt, strlen(prompt), true, true, &toks, &n), 0);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256;
    cp.n_threads = cp.n_threads_batch = 1;
    struct llama_context *ctx = llama_init_from_model(f->m->lm, cp);
    assert_non_null(ctx);
    assert_int_equal(llama_decode(ctx, llama_batch_get_one(toks, (int32_t)n)), 0);
    for (int i = 0; i < c->n; i++) {
        const float *lg = llama_get_logits_ith(ctx, -1);
        double max = lg[0], sum = 0;
        for (int v = 1; v < 512; v++) {
            max = lg[v] > max ? lg[v] : max;
        }
        for (int v = 0; v < 512; v++) {
            sum += exp(lg[v] - max);
        }
        double want = lg[c->toks[i]] - max - log(sum);
        assert_true(c->lps[i] <= 0.0f);
        if (fabs(c->lps[i] - want) > 1e-4) {
            fail_msg("token %d: logprob %f, log-softmax %f", i, c->lps[i], want);
        }
        for (size_t k = 0; k < c->n_top; k++) {
            double tw = lg[c->top[i][k].id] - max - log(sum);
            assert_true(fabs(c->top[i][k].logprob - tw) < 1e-4);
            assert_true(k == 0 || c->top[i][k].logprob <= c->top[i][k - 1].logprob);
        }
        int32_t t = c->toks[i];
        assert_int_equal(llama_decode(ctx, llama_batch_get_one(&t, 1)), 0);
    }
    llama_free(ctx);
    hr_free(toks);
}

static void test_logprobs(void **state)
{
    fixture *f = *state;
    hr_gen_params p;
    collect c;
    greedy(&p, 20);
    p.logprobs = true;
    p.top_logprobs = 5;
    assert_int_equal(gen(f, "Once upon a time", &p, &c, NULL), 0);
    assert_int_equal(c.n, 20);
    for (int i = 0; i < c.n; i++) {
        /* Greedy picks the likeliest token, so it heads the alternatives. */
        assert_int_equal(c.top[i][0].id, c.toks[i]);
    }
    check_logprobs_against_llama(f, "Once upon a time", &c);
    hr_buf_deinit(&c.text);

    /* Sampled at temperature 1 with a repeat penalty, the reported logprob is
     * still that of the model's raw distribution. */
    hr_gen_params_init(&p);
    p.temperature = 1.0f;
    p.repeat_penalty = 1.3f;
    p.seed = 7;
    p.max_tokens = 20;
    p.logprobs = true;
    assert_int_equal(gen(f, "Tom had a dog", &p, &c, NULL), 0);
    check_logprobs_against_llama(f, "Tom had a dog", &c);
    hr_buf_deinit(&c.text);
}

static void test_stop_strings(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *stop;
        const char *want;
    } cases[] = {
        {"irl named", ", there was a little g"},     /* spans "ir" "l" " named" */
        {"little g", ", there was a "},              /* spans " little" " g" */
        {". She", ", there was a little girl named Lily"},
        {"Lily", ", there was a little girl named "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hr_gen_params p;
        collect c;
        hr_gen_result res;
        greedy(&p, 40);
        p.stop[0] = "never appears";
        p.stop[1] = cases[i].stop;
        p.n_stop = 2;
        assert_int_equal(gen(f, "Once upon a time", &p, &c, &res), 0);
        assert_string_equal(c.text.p ? c.text.p : "", cases[i].want);
        assert_int_equal(res.finish, HR_FINISH_STOP);
        assert_true(res.n_generated < 40);
        hr_buf_deinit(&c.text);
    }
}

/* A callback that, at token 5, hands control to the main thread and waits
 * until it has called hr_session_cancel. */
typedef struct cancel_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int phase; /* 0 running, 1 reached token 5, 2 cancel sent */
    fixture *f;
    int n;
    hr_gen_result res;
    int rc;
} cancel_sync;

static bool on_event_cancel(const hr_gen_event *ev, void *ud)
{
    cancel_sync *cs = ud;
    cs->n = ev->n_generated;
    if (ev->n_generated == 5) {
        pthread_mutex_lock(&cs->mu);
        cs->phase = 1;
        pthread_cond_broadcast(&cs->cv);
        while (cs->phase != 2) {
            pthread_cond_wait(&cs->cv, &cs->mu);
        }
        pthread_mutex_unlock(&cs->mu);
    }
    return true;
}

static void *gen_thread(void *arg)
{
    cancel_sync *cs = arg;
    hr_gen_params p;
    greedy(&p, 1000);
    p.stop[0] = "\xff"; /* never matches: keep generating */
    p.n_stop = 1;
    char err[128];
    const char *prompt = "Once upon a time";
    cs->rc = hr_session_generate(cs->f->s, prompt, strlen(prompt), &p, on_event_cancel, cs,
                                 &cs->res, err, sizeof err);
    return NULL;
}

static void test_cancel_from_other_thread(void **state)
{
    fixture *f = *state;
    cancel_sync cs = {.f = f};
    pthread_mutex_init(&cs.mu, NULL);
    pthread_cond_init(&cs.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, gen_thread, &cs), 0);
    pthread_mutex_lock(&cs.mu);
    while (cs.phase != 1) {
        pthread_cond_wait(&cs.cv, &cs.mu);
    }
    hr_session_cancel(f->s);
    cs.phase = 2;
    pthread_cond_broadcast(&cs.cv);
    pthread_mutex_unlock(&cs.mu);
    pthread_join(th, NULL);
    assert_int_equal(cs.rc, 0);
    assert_int_equal(cs.res.finish, HR_FINISH_CANCELED);
    /* Within one token: the 6th may be in flight, no more. */
    assert_true(cs.res.n_generated <= 6);
    pthread_cond_destroy(&cs.cv);
    pthread_mutex_destroy(&cs.mu);

    /* The callback can stop generation too, exactly where it says. */
    hr_gen_params p;
    collect c;
    hr_gen_result res;
    greedy(&p, 40);
    memset(&c, 0, sizeof c);
    c.stop_at = 3;
    char err[128];
    assert_int_equal(hr_session_generate(f->s, "Once upon a time", 16, &p, on_event, &c, &res,
                                         err, sizeof err), 0);
    assert_int_equal(res.finish, HR_FINISH_CANCELED);
    assert_int_equal(res.n_generated, 3);
    hr_buf_deinit(&c.text);
}

static void test_utf8_token_pieces(void **state)
{
    fixture *f = *state;
    const char *text = "na\xC3\xAFve caf\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x82\xAC";
    int32_t *toks = NULL;
    size_t n = 0;
    assert_int_equal(hr_model_tokenize(f->m, text, strlen(text), false, false, &toks, &n), 0);
    hr_textout t;
    hr__textout_init(&t, NULL, 0);
    hr_buf piece = {0}, out = {0}, step = {0};
    int partial = 0;
    for (size_t i = 0; i < n; i++) {
        hr_buf_reset(&piece);
        hr_buf_reset(&step);
        assert_int_equal(hr_model_token_piece(f->m, toks[i], &piece), 0);
        partial += !hr_utf8_valid(piece.p, piece.len);
        assert_true(hr__textout_push(&t, piece.p, piece.len, &step) >= 0);
        assert_true(hr_utf8_valid(step.p ? step.p : "", step.len));
        hr_buf_append(&out, step.p ? step.p : "", step.len);
    }
    hr__textout_flush(&t, &out);
    /* The 512-token vocabulary spells these characters byte by byte, so
     * some pieces really are partial characters. */
    assert_true(partial > 0);
    /* SentencePiece turns the leading space into a marker; compare the rest. */
    const char *got = out.p[0] == ' ' ? out.p + 1 : out.p;
    assert_string_equal(got, text);
    hr_buf detok = {0};
    assert_int_equal(hr_model_detokenize(f->m, toks, n, &detok), 0);
    assert_non_null(strstr(detok.p, "caf\xC3\xA9"));
    hr_buf_deinit(&detok);
    hr_buf_deinit(&piece);
    hr_buf_deinit(&out);
    hr_buf_deinit(&step);
    hr__textout_deinit(&t);
    hr_free(toks);
}

static void test_prefix_reuse(void **state)
{
    fixture *f = *state;
    hr_gen_params p;
    collect a, b;
    hr_gen_result r1, r2;
    greedy(&p, 20);
    hr_session_reset(f->s);
    assert_int_equal(gen(f, "Once upon a time", &p, &a, &r1), 0);
    assert_int_equal(r1.n_prompt_cached, 0);
    assert_int_equal(gen(f, "Once upon a time", &p, &b, &r2), 0);
    assert_int_equal(r2.n_prompt_cached, r2.n_prompt - 1);
    assert_string_equal(a.text.p, b.text.p);
    hr_buf_deinit(&b.text);
    /* A follow-up that extends the conversation reuses the earlier turn. */
    hr_buf next = {0};
    hr_buf_printf(&next, "Once upon a time%s The end.", a.text.p);
    assert_int_equal(gen(f, next.p, &p, &b, &r2), 0);
    assert_true(r2.n_prompt_cached >= r1.n_prompt);
    hr_buf_deinit(&a.text);
    hr_buf_deinit(&b.text);
    hr_buf_deinit(&next);
}

static void test_json_grammar(void **state)
{
    fixture *f = *state;
    hr_gen_params p;
    collect c;
    hr_gen_result res;
    greedy(&p, 60);
    p.grammar = HR_GRAMMAR_JSON;
    assert_int_equal(gen(f, "Once upon a time", &p, &c, &res), 0);
    /* Unconstrained, this prompt gives ", there was..."; constrained, it must
     * open a JSON object. */
    assert_non_null(c.text.p);
    assert_int_equal(c.text.p[0], '{');
    if (res.finish == HR_FINISH_STOP) {
        assert_non_null(strrchr(c.text.p, '}'));
    }
    hr_buf_deinit(&c.text);
}

static void test_chat_fallback(void **state)
{
    fixture *f = *state;
    hr_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}};
    hr_buf out = {0};
    bool fb = false;
    assert_int_equal(hr_model_chat_apply(f->m, msgs, 2, true, &out, &fb), 0);
    assert_true(fb);
    assert_string_equal(out.p, "<|im_start|>system\nBe brief.<|im_end|>\n"
                               "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    hr_buf_deinit(&out);
}

/* A copy of the bundled model with tokenizer.chat_template set: ggml's GGUF
 * writer writes the new metadata, then the tensor data is copied after it
 * (offsets within the data section do not change). */
static void write_with_template(const char *out, const char *tmpl)
{
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(model_path(), gp);
    assert_non_null(g);
    size_t data_off = gguf_get_data_offset(g);
    gguf_set_val_str(g, "tokenizer.chat_template", tmpl);
    assert_true(gguf_write_to_file(g, out, true));
    gguf_free(g);
    FILE *in = fopen(model_path(), "rb");
    FILE *o = fopen(out, "ab");
    assert_non_null(in);
    assert_non_null(o);
    assert_int_equal(fseek(in, (long)data_off, SEEK_SET), 0);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        assert_int_equal(fwrite(buf, 1, n, o), n);
    }
    fclose(in);
    fclose(o);
}

static void test_chat_templates(void **state)
{
    static const struct {
        const char *tmpl;
        bool fallback;
        const char *want;
    } cases[] = {
        /* Llama 3's template, as its GGUFs carry it (abridged). */
        {"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
         "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
         "message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
         "{% endif %}",
         false,
         "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        /* Gemma's. */
        {"{{ bos_token }}{% for message in messages %}<start_of_turn>{{ message['role'] }}\n"
         "{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
         "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}",
         false, "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"},
        /* Something llama.cpp does not know: the documented ChatML fallback. */
        {"{{ messages | tojson }}", true, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"},
    };
    char path[] = "/tmp/hearth-tmpl-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_with_template(path, cases[i].tmpl);
        hr_model *m = NULL;
        char err[256];
        assert_int_equal(hr_model_load(&m, path, NULL, err, sizeof err), 0);
        hr_model_info in;
        hr_model_get_info(m, &in);
        assert_true(in.has_chat_template);
        hr_chat_msg msg = {"user", "Hi"};
        hr_buf out = {0};
        bool fb = !cases[i].fallback;
        assert_int_equal(hr_model_chat_apply(m, &msg, 1, true, &out, &fb), 0);
        assert_int_equal(fb, cases[i].fallback);
        if (!strstr(out.p, cases[i].want)) {
            fail_msg("template %zu rendered '%s'", i, out.p);
        }
        hr_buf_deinit(&out);
        hr_model_free(m);
    }
    unlink(path);
}

static void test_bad_params_and_context(void **state)
{
    fixture *f = *state;
    char err[256];
    hr_gen_params p;
    greedy(&p, 0);
    assert_int_equal(hr_session_generate(f->s, "x", 1, &p, NULL, NULL, NULL, err, sizeof err),
                     HR_EINVAL);
    assert_non_null(strstr(err, "max_tokens"));
    greedy(&p, 5);
    p.temperature = -0.5f;
    assert_int_equal(hr_gen_params_check(&p, err, sizeof err), HR_EINVAL);
    assert_non_null(strstr(err, "temperature"));
    greedy(&p, 5);
    p.top_logprobs = 21;
    assert_int_equal(hr_gen_params_check(&p, err, sizeof err), HR_EINVAL);

    hr_session *s = NULL;
    hr_session_opts so = {.n_ctx = 4096};
    assert_int_equal(hr_session_new(&s, f->m, &so, err, sizeof err), HR_ECTXFULL);
    assert_null(s);
    assert_non_null(strstr(err, "2048"));

    so.n_ctx = 32;
    assert_int_equal(hr_session_new(&s, f->m, &so, err, sizeof err), 0);
    greedy(&p, 5);
    const char *longp = "Once upon a time there was a big dog and a small cat who played "
                        "in the garden every day until the sun went down";
    assert_int_equal(hr_session_generate(s, longp, strlen(longp), &p, NULL, NULL, NULL, err,
                                         sizeof err), HR_ECTXFULL);
    /* A short prompt that runs into the end of the context stops there. */
    hr_gen_result res;
    greedy(&p, 100);
    assert_int_equal(hr_session_generate(s, "Once", 4, &p, NULL, NULL, &res, err, sizeof err), 0);
    assert_int_equal(res.finish, HR_FINISH_LENGTH);
    assert_true(res.n_prompt + res.n_generated <= 32);
    hr_session_free(s);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

static void test_bad_files(void **state)
{
    (void)state;
    char err[512];
    hr_model *m = (hr_model *)1;
    char dir[] = "/tmp/hearth-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[600];

    assert_int_equal(hr_model_load(&m, "/nonexistent/x.gguf", NULL, err, sizeof err), HR_ENOENT);
    assert_null(m);
    assert_int_equal(hr_model_load(&m, dir, NULL, err, sizeof err), HR_EISDIR);
    snprintf(path, sizeof path, "%s/empty.gguf", dir);
    write_file(path, "", 0);
    assert_int_equal(hr_model_load(&m, path, NULL, err, sizeof err), HR_EFORMAT);
    assert_non_null(strstr(err, "empty"));
    snprintf(path, sizeof path, "%s/text.gguf", dir);
    write_file(path, "hello world\n", 12);
    assert_int_equal(hr_model_load(&m, path, NULL, err, sizeof err), HR_EFORMAT);
    assert_non_null(strstr(err, "not a GGUF"));

    /* The real model cut at many offsets, header and tensor data alike. */
    FILE *fp = fopen(model_path(), "rb");
    assert_non_null(fp);
    static char data[1 << 21];
    size_t size = fread(data, 1, sizeof data, fp);
    fclose(fp);
    const size_t cuts[] = {1, 4, 7, 8, 16, 24, 100, 1000, 5000, 20000, 100000, size / 2, size - 1};
    snprintf(path, sizeof path, "%s/cut.gguf", dir);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_file(path, data, cuts[i]);
        int rc = hr_model_load(&m, path, NULL, err, sizeof err);
        if (rc != HR_EFORMAT) {
            fail_msg("cut at %zu: rc %d (%s)", cuts[i], rc, err);
        }
        assert_null(m);
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/empty.gguf", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/text.gguf", dir);
    unlink(path);
    rmdir(dir);
}

/* Fail each of our allocations in turn: every run must end in success or a
 * clean error (ASan checks for leaks and bad accesses). */
static void test_alloc_failures(void **state)
{
    (void)state;
    int failures = 0;
    for (long n = 1; n <= 40; n++) {
        char err[256];
        hr_model *m = NULL;
        hr_session *s = NULL;
        hr_gen_params p;
        greedy(&p, 8);
        p.stop[0] = "girl";
        p.n_stop = 1;
        p.top_logprobs = 2;
        hr_alloc_fail_at(n);
        int rc = hr_model_load(&m, model_path(), NULL, err, sizeof err);
        if (rc == 0) {
            rc = hr_session_new(&s, m, NULL, err, sizeof err);
        }
        if (rc == 0) {
            rc = hr_session_generate(s, "Once upon a time", 16, &p, NULL, NULL, NULL, err,
                                     sizeof err);
        }
        hr_alloc_fail_at(0);
        assert_true(rc == 0 || rc == HR_ENOMEM || rc == HR_EMODEL || rc == HR_EINVAL);
        failures += rc != 0;
        hr_session_free(s);
        hr_model_free(m);
    }
    assert_true(failures > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_greedy_reference),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_cancel_from_other_thread),
        cmocka_unit_test(test_utf8_token_pieces),
        cmocka_unit_test(test_prefix_reuse),
        cmocka_unit_test(test_json_grammar),
        cmocka_unit_test(test_chat_fallback),
        cmocka_unit_test(test_chat_templates),
        cmocka_unit_test(test_bad_params_and_context),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
