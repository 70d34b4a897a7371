/* SPDX-License-Identifier: MIT */
/* session.c -- one llama context and its single-stream generation loop.
 *
 * The loop: tokenize, reuse the longest prefix already in the KV cache,
 * decode the rest of the prompt in n_batch chunks, then sample, report and
 * decode one token at a time. Runs on the caller's thread; only the cancel
 * flag is touched from elsewhere, and llama.cpp's abort callback reads it so
 * a long prompt decode stops too. */
#include "engine/engine_int.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"

#define DEFAULT_MAX_CTX 4096u
#define DEFAULT_BATCH 512u

struct hr_session {
    hr_model *m;
    struct llama_context *ctx;
    uint32_t n_ctx;
    uint32_t n_batch;
    int32_t *cache;  /* tokens whose K/V are in sequence 0, in order */
    size_t n_cache;
    _Atomic bool cancel;
};

static bool abort_cb(void *ud)
{
    hr_session *s = ud;
    return atomic_load_explicit(&s->cancel, memory_order_relaxed);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int hr_session_new(hr_session **out, hr_model *m, const hr_session_opts *opts, char *err,
                   size_t errlen)
{
    static const hr_session_opts defaults;
    const hr_session_opts *o = opts ? opts : &defaults;
    *out = NULL;
    uint32_t train = m->info.n_ctx_train > 0 ? (uint32_t)m->info.n_ctx_train : DEFAULT_MAX_CTX;
    uint32_t n_ctx = o->n_ctx ? o->n_ctx : (train < DEFAULT_MAX_CTX ? train : DEFAULT_MAX_CTX);
    if (n_ctx > train) {
        return hr_errf(err, errlen, HR_ECTXFULL,
                       "context size %u exceeds the model's trained context of %u tokens", n_ctx,
                       train);
    }
    if (n_ctx < 16) {
        return hr_errf(err, errlen, HR_EINVAL, "context size %u is too small (minimum 16)", n_ctx);
    }
    if (o->n_threads < 0 || o->n_threads > 1024) {
        return hr_errf(err, errlen, HR_EINVAL, "threads must be between 1 and 1024, got %d",
                       o->n_threads);
    }
    hr_session *s = hr_calloc(1, sizeof *s);
    if (!s) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    s->m = m;
    s->n_ctx = n_ctx;
    s->n_batch = o->n_batch ? o->n_batch : DEFAULT_BATCH;
    if (s->n_batch > n_ctx) {
        s->n_batch = n_ctx;
    }
    s->cache = hr_calloc(n_ctx, sizeof *s->cache);
    struct llama_context_params cp = llama_context_default_params();
    int threads = o->n_threads ? o->n_threads : hr_engine_default_threads();
    cp.n_ctx = n_ctx;
    cp.n_batch = s->n_batch;
    cp.n_ubatch = s->n_batch;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    cp.abort_callback = abort_cb;
    cp.abort_callback_data = s;
    s->ctx = s->cache ? llama_init_from_model(m->lm, cp) : NULL;
    if (!s->ctx) {
        hr_free(s->cache);
        hr_free(s);
        return hr_errf(err, errlen, HR_EMODEL, "llama.cpp could not create a %u-token context",
                       n_ctx);
    }
    *out = s;
    return 0;
}

void hr_session_free(hr_session *s)
{
    if (!s) {
        return;
    }
    llama_free(s->ctx);
    hr_free(s->cache);
    hr_free(s);
}

uint32_t hr_session_n_ctx(const hr_session *s)
{
    return s->n_ctx;
}

void hr_session_cancel(hr_session *s)
{
    atomic_store(&s->cancel, true);
}

void hr_session_reset(hr_session *s)
{
    llama_memory_clear(llama_get_memory(s->ctx), true);
    s->n_cache = 0;
}

/* Decode toks[0..n) after what the cache holds, n_batch at a time. */
static int decode_tokens(hr_session *s, int32_t *toks, size_t n)
{
    for (size_t i = 0; i < n; i += s->n_batch) {
        size_t k = n - i < s->n_batch ? n - i : s->n_batch;
        int rc = llama_decode(s->ctx, llama_batch_get_one(toks + i, (int32_t)k));
        if (rc != 0) {
            /* Partly decoded chunks leave the cache unknown: start over. */
            hr_session_reset(s);
            return rc == 2 ? HR_ECANCELED : HR_EDECODE;
        }
        memcpy(s->cache + s->n_cache, toks + i, k * sizeof *toks);
        s->n_cache += k;
    }
    return 0;
}

/* Drop cached tokens past the prefix shared with prompt, and return how many
 * prompt tokens are still cached. At least one token is always left to
 * decode, since sampling needs the logits of the last one. */
static size_t reuse_prefix(hr_session *s, const int32_t *prompt, size_t n)
{
    size_t keep = 0;
    while (keep < s->n_cache && keep < n && s->cache[keep] == prompt[keep]) {
        keep++;
    }
    if (keep == n) {
        keep--;
    }
    if (!llama_memory_seq_rm(llama_get_memory(s->ctx), 0, (llama_pos)keep, -1)) {
        keep = 0;
        llama_memory_clear(llama_get_memory(s->ctx), true);
    }
    s->n_cache = keep;
    return keep;
}

/* State of one generate call. */
typedef struct gen_state {
    hr_session *s;
    hr_seq seq;
    hr_gen_result res;
} gen_state;

/* Sample one token and report it. Returns 1 when generation is over (res.finish
 * says why), 0 to go on with *tok decoded next, or a negative code. */
static int step(gen_state *g, hr_gen_cb cb, void *ud, int32_t *tok)
{
    hr_session *s = g->s;
    hr_gen_event ev;
    int rc = hr__seq_step(&g->seq, s->ctx, -1, s->n_cache + 1 >= s->n_ctx, &ev, &g->res.finish);
    if (rc < 0) {
        return rc;
    }
    g->res.n_generated = ev.n_generated;
    if (cb && !cb(&ev, ud)) {
        g->res.finish = HR_FINISH_CANCELED;
        return 1;
    }
    *tok = ev.token;
    return rc;
}

static int run_loop(gen_state *g, hr_gen_cb cb, void *ud, char *err, size_t errlen)
{
    hr_session *s = g->s;
    double t0 = now_ms();
    for (;;) {
        if (atomic_load(&s->cancel)) {
            g->res.finish = HR_FINISH_CANCELED;
            break;
        }
        int32_t tok = 0;
        int rc = step(g, cb, ud, &tok);
        if (rc < 0) {
            return hr_errf(err, errlen, rc, "generation failed: %s", hr_strerror(rc));
        }
        if (rc == 1) {
            break;
        }
        rc = decode_tokens(s, &tok, 1);
        if (rc == HR_ECANCELED) {
            g->res.finish = HR_FINISH_CANCELED;
            break;
        }
        if (rc < 0) {
            return hr_errf(err, errlen, rc, "llama.cpp decode failed");
        }
    }
    g->res.gen_ms = now_ms() - t0;
    return 0;
}

/* Tokenize and decode the prompt; fills res's prompt fields. */
static int prefill(gen_state *g, const hr_gen_params *p, const char *prompt, size_t len,
                   char *err, size_t errlen)
{
    hr_session *s = g->s;
    int32_t *toks = NULL;
    size_t n = 0;
    int rc = hr_model_tokenize(s->m, prompt, len, true, true, &toks, &n);
    if (rc < 0) {
        return hr_errf(err, errlen, rc, "cannot tokenize the prompt: %s", hr_strerror(rc));
    }
    if (n == 0) {
        hr_free(toks);
        return hr_errf(err, errlen, HR_EINVAL, "the prompt is empty");
    }
    if (n >= s->n_ctx) {
        hr_free(toks);
        return hr_errf(err, errlen, HR_ECTXFULL,
                       "the prompt is %zu tokens but the context holds %u", n, s->n_ctx);
    }
    rc = hr__seq_init(&g->seq, s->m, p, toks, n);
    if (rc < 0) {
        hr_free(toks);
        return hr_errf(err, errlen, rc, "out of memory");
    }
    double t0 = now_ms();
    size_t keep = reuse_prefix(s, toks, n);
    rc = decode_tokens(s, toks + keep, n - keep);
    hr_free(toks);
    g->res.n_prompt = (int32_t)n;
    g->res.n_prompt_cached = (int32_t)keep;
    g->res.prompt_ms = now_ms() - t0;
    if (rc == HR_ECANCELED) {
        return rc;
    }
    return rc < 0 ? hr_errf(err, errlen, rc, "llama.cpp decode failed on the prompt") : 0;
}

int hr_session_generate(hr_session *s, const char *prompt, size_t len, const hr_gen_params *p,
                        hr_gen_cb cb, void *ud, hr_gen_result *res, char *err, size_t errlen)
{
    int rc = hr_gen_params_check(p, err, errlen);
    if (rc < 0) {
        return rc;
    }
    atomic_store(&s->cancel, false);
    gen_state g = {.s = s};
    rc = prefill(&g, p, prompt, len, err, errlen);
    if (rc == HR_ECANCELED) {
        g.res.finish = HR_FINISH_CANCELED;
        rc = 0;
    } else if (rc == 0) {
        rc = run_loop(&g, cb, ud, err, errlen);
    }
    hr__seq_deinit(&g.seq);
    if (res) {
        *res = g.res;
    }
    return rc;
}
