/* SPDX-License-Identifier: MIT */
/* embed.c -- mean-pooled, L2-normalised embeddings with a context of their
 * own (llama.cpp pools only in a context made with embeddings on, and the
 * whole input must fit one ubatch). Runs on the engine thread. */
#include "engine/engine_int.h"

#include <math.h>

#include "util/alloc.h"
#include "util/err.h"

static int ensure_ctx(const hr_model *m, struct llama_context **ectx, uint32_t n_ctx,
                      int32_t n_threads)
{
    if (*ectx) {
        return 0;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = cp.n_ubatch = n_ctx;
    cp.n_seq_max = 1;
    cp.n_threads = cp.n_threads_batch = n_threads;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    cp.no_perf = true;
    *ectx = llama_init_from_model(m->lm, cp);
    return *ectx ? 0 : HR_EMODEL;
}

int hr__embed(const hr_model *m, struct llama_context **ectx, uint32_t n_ctx, int32_t n_threads,
              const int32_t *toks, size_t n, float **out, int32_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    int rc = ensure_ctx(m, ectx, n_ctx, n_threads);
    if (rc < 0) {
        return rc;
    }
    llama_memory_clear(llama_get_memory(*ectx), true);
    struct llama_batch b = llama_batch_init((int32_t)n, 0, 1);
    for (size_t i = 0; i < n; i++) {
        b.token[i] = toks[i];
        b.pos[i] = (llama_pos)i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = true;
    }
    b.n_tokens = (int32_t)n;
    bool enc = llama_model_has_encoder(m->lm) && !llama_model_has_decoder(m->lm);
    rc = enc ? llama_encode(*ectx, b) : llama_decode(*ectx, b);
    llama_batch_free(b);
    const float *v = rc == 0 ? llama_get_embeddings_seq(*ectx, 0) : NULL;
    if (!v) {
        return HR_EDECODE;
    }
    int32_t dim = llama_model_n_embd_out(m->lm);
    float *e = hr_calloc((size_t)dim, sizeof *e);
    if (!e) {
        return HR_ENOMEM;
    }
    double norm = 0.0;
    for (int32_t i = 0; i < dim; i++) {
        norm += (double)v[i] * v[i];
    }
    norm = norm > 0.0 ? sqrt(norm) : 1.0;
    for (int32_t i = 0; i < dim; i++) {
        e[i] = (float)(v[i] / norm);
    }
    *out = e;
    *n_out = dim;
    return 0;
}
