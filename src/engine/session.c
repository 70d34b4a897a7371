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

/* State of one generate call, so the per-token step can be its own function. */
typedef struct gen_state {
    hr_session *s;
    const hr_gen_params *p;
    struct llama_sampler *smpl;
    hr_textout tout;
    hr_buf piece;
    hr_buf text;
    hr_token_prob top[HR_GEN_MAX_TOP_LOGPROBS];
    hr_gen_result res;
} gen_state;

/* Sample one token and report it. Returns 1 when generation is over (res.finish
 * says why), 0 to go on with *tok decoded next, or a negative code. */
static int step(gen_state *g, hr_gen_cb cb, void *ud, int32_t *tok)
{
    hr_session *s = g->s;
    const hr_model *m = s->m;
    const float *logits = llama_get_logits_ith(s->ctx, -1);
    int32_t t = llama_sampler_sample(g->smpl, s->ctx, -1);
    hr_gen_event ev = {.token = t, .n_generated = ++g->res.n_generated};
    if (g->p->logprobs || g->p->top_logprobs > 0) {
        ev.n_top = (size_t)g->p->top_logprobs;
        ev.logprob = hr__logprobs(logits, m->info.n_vocab, t, g->top, ev.n_top);
        ev.top = g->top;
    }
    hr_buf_reset(&g->piece);
    hr_buf_reset(&g->text);
    bool eog = hr_model_token_is_eog(m, t);
    int rc = eog ? 0 : hr_model_token_piece(m, t, &g->piece);
    int stopped = rc < 0 ? rc : hr__textout_push(&g->tout, g->piece.p, g->piece.len, &g->text);
    if (stopped < 0) {
        return stopped;
    }
    if (eog || stopped) {
        g->res.finish = HR_FINISH_STOP;
        ev.is_final = true;
    } else if (g->res.n_generated >= g->p->max_tokens || s->n_cache + 1 >= s->n_ctx) {
        g->res.finish = HR_FINISH_LENGTH;
        ev.is_final = true;
    }
    if (ev.is_final && hr__textout_flush(&g->tout, &g->text) < 0) {
        return HR_ENOMEM;
    }
    ev.piece = g->piece.p ? g->piece.p : "";
    ev.piece_len = g->piece.len;
    ev.text = g->text.p ? g->text.p : "";
    ev.text_len = g->text.len;
    if (cb && !cb(&ev, ud)) {
        g->res.finish = HR_FINISH_CANCELED;
        return 1;
    }
    *tok = t;
    return ev.is_final ? 1 : 0;
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
static int prefill(gen_state *g, const char *prompt, size_t len, char *err, size_t errlen)
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
    double t0 = now_ms();
    size_t keep = reuse_prefix(s, toks, n);
    /* Penalties look back over the prompt too, as llama.cpp's server does. */
    for (size_t i = 0; i < n; i++) {
        llama_sampler_accept(g->smpl, toks[i]);
    }
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
    gen_state g = {.s = s, .p = p};
    hr__textout_init(&g.tout, p->stop, p->n_stop);
    g.smpl = hr__sampler_new(s->m, p);
    if (!g.smpl) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    rc = prefill(&g, prompt, len, err, errlen);
    if (rc == HR_ECANCELED) {
        g.res.finish = HR_FINISH_CANCELED;
        rc = 0;
    } else if (rc == 0) {
        rc = run_loop(&g, cb, ud, err, errlen);
    }
    llama_sampler_free(g.smpl);
    hr__textout_deinit(&g.tout);
    hr_buf_deinit(&g.piece);
    hr_buf_deinit(&g.text);
    if (res) {
        *res = g.res;
    }
    return rc;
}
