/* SPDX-License-Identifier: MIT */
/* engine_int.h -- pieces shared by src/engine's files; not for other modules.
 *
 * The unit tests include this header too, to test the pure pieces (text
 * assembly, logprobs) directly. */
#ifndef HR_ENGINE_ENGINE_INT_H
#define HR_ENGINE_ENGINE_INT_H

#include "engine/engine.h"

#include <llama.h>

struct hr_model {
    struct llama_model *lm;
    const struct llama_vocab *vocab;
    char *path;
    hr_model_info info;
    const char *tmpl; /* the GGUF's chat template, owned by llama.cpp, or NULL */
};

/* ---- textout: turns token pieces into text a client may see ------------
 *
 * Text is held back while it might still become a stop string or while it
 * ends inside a UTF-8 character; once a stop string appears, everything from
 * it on is dropped. Invalid UTF-8 is replaced with U+FFFD, so what comes out
 * is always valid UTF-8. */
typedef struct hr_textout {
    hr_buf pending;                      /* received, not yet emitted */
    const char *stop[HR_GEN_MAX_STOP];   /* borrowed */
    size_t stop_len[HR_GEN_MAX_STOP];
    size_t n_stop;
    bool stopped;                        /* a stop string was seen */
} hr_textout;

void hr__textout_init(hr_textout *t, const char *const *stop, size_t n_stop);
void hr__textout_deinit(hr_textout *t);

/* Feed one piece; append what became safe to show to out. Returns 1 when a
 * stop string completed (nothing more will be emitted), 0 otherwise, or
 * HR_ENOMEM. */
int hr__textout_push(hr_textout *t, const char *piece, size_t n, hr_buf *out);

/* End of generation: append everything still held (an unfinished character
 * becomes U+FFFD). Returns 0 or HR_ENOMEM. */
int hr__textout_flush(hr_textout *t, hr_buf *out);

/* ---- logprobs ------------------------------------------------------------ */

/* Log-softmax of logits[tok] over n_vocab logits, and, when n_top > 0, the
 * n_top most likely tokens best first into top[]. Returns the logprob. */
float hr__logprobs(const float *logits, int32_t n_vocab, int32_t tok, hr_token_prob *top,
                   size_t n_top);

/* ---- sampler ------------------------------------------------------------- */

/* Build llama.cpp's sampler chain for p (penalties, top-k, top-p, min-p,
 * temperature, then a seeded draw; greedy at temperature 0). NULL on OOM. */
struct llama_sampler *hr__sampler_new(const hr_model *m, const hr_gen_params *p);

/* ---- seq: one sequence's sampling step (seq.c) ----------------------------
 * Shared by the single-stream session and the batching scheduler. */
typedef struct hr_seq {
    const hr_model *m;
    const hr_gen_params *p;  /* borrowed; must outlive the seq */
    struct llama_sampler *smpl;
    hr_textout tout;
    hr_buf piece;            /* the last token's raw text */
    hr_buf text;             /* the last step's safe text */
    hr_token_prob top[HR_GEN_MAX_TOP_LOGPROBS];
    int32_t n_generated;
} hr_seq;

/* Build the sampler for p and feed it the prompt (for penalties). */
int hr__seq_init(hr_seq *q, const hr_model *m, const hr_gen_params *p, const int32_t *prompt,
                 size_t n_prompt);
void hr__seq_deinit(hr_seq *q);

/* Sample from the logits at batch index idx and fill *ev (its pointers stay
 * valid until the next step). ctx_full says the sampled token could not be
 * decoded. Returns 1 when this was the last token (*finish says why), 0 to
 * go on, or a negative code. */
int hr__seq_step(hr_seq *q, struct llama_context *ctx, int32_t idx, bool ctx_full,
                 hr_gen_event *ev, hr_finish *finish);

/* ---- embeddings (embed.c) -------------------------------------------------- */

/* Embed toks[0..n) with *ectx, making it on first use (n_ctx tokens). On
 * success *out is an hr_malloc'd unit vector of *n_out floats. */
int hr__embed(const hr_model *m, struct llama_context **ectx, uint32_t n_ctx, int32_t n_threads,
              const int32_t *toks, size_t n, float **out, int32_t *n_out);

#endif
