/* SPDX-License-Identifier: MIT */
/* seq.c -- one sequence's sampling step, shared by the single-stream session
 * and the batching scheduler: sample from the logits llama.cpp left at a
 * batch index, compute logprobs, turn the token into safe text, and decide
 * whether generation is over. Runs on whichever thread owns the context. */
#include "engine/engine_int.h"

#include <string.h>

#include "util/err.h"

int hr__seq_init(hr_seq *q, const hr_model *m, const hr_gen_params *p, const int32_t *prompt,
                 size_t n_prompt)
{
    memset(q, 0, sizeof *q);
    q->m = m;
    q->p = p;
    q->smpl = hr__sampler_new(m, p);
    if (!q->smpl) {
        return HR_ENOMEM;
    }
    /* Penalties look back over the prompt too, as llama.cpp's server does.
     * They are the chain's first sampler; the rest (a grammar above all)
     * must not see the prompt. */
    if (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f ||
        p->frequency_penalty != 0.0f) {
        struct llama_sampler *pen = llama_sampler_chain_get(q->smpl, 0);
        for (size_t i = 0; i < n_prompt; i++) {
            llama_sampler_accept(pen, prompt[i]);
        }
    }
    hr__textout_init(&q->tout, p->stop, p->n_stop);
    return 0;
}

void hr__seq_deinit(hr_seq *q)
{
    if (q->smpl) {
        llama_sampler_free(q->smpl);
    }
    hr__textout_deinit(&q->tout);
    hr_buf_deinit(&q->piece);
    hr_buf_deinit(&q->text);
    memset(q, 0, sizeof *q);
}

int hr__seq_step(hr_seq *q, struct llama_context *ctx, int32_t idx, bool ctx_full,
                 hr_gen_event *ev, hr_finish *finish)
{
    const hr_model *m = q->m;
    const float *logits = llama_get_logits_ith(ctx, idx);
    int32_t t = llama_sampler_sample(q->smpl, ctx, idx);
    memset(ev, 0, sizeof *ev);
    ev->token = t;
    ev->n_generated = ++q->n_generated;
    if (q->p->logprobs || q->p->top_logprobs > 0) {
        ev->n_top = (size_t)q->p->top_logprobs;
        ev->logprob = hr__logprobs(logits, m->info.n_vocab, t, q->top, ev->n_top);
        ev->top = q->top;
    }
    hr_buf_reset(&q->piece);
    hr_buf_reset(&q->text);
    bool eog = hr_model_token_is_eog(m, t);
    int rc = eog ? 0 : hr_model_token_piece(m, t, &q->piece);
    int stopped = rc < 0 ? rc : hr__textout_push(&q->tout, q->piece.p, q->piece.len, &q->text);
    if (stopped < 0) {
        return stopped;
    }
    if (eog || stopped) {
        *finish = HR_FINISH_STOP;
        ev->is_final = true;
    } else if (q->n_generated >= q->p->max_tokens || ctx_full) {
        *finish = HR_FINISH_LENGTH;
        ev->is_final = true;
    }
    if (ev->is_final && hr__textout_flush(&q->tout, &q->text) < 0) {
        return HR_ENOMEM;
    }
    ev->piece = q->piece.p ? q->piece.p : "";
    ev->piece_len = q->piece.len;
    ev->text = q->text.p ? q->text.p : "";
    ev->text_len = q->text.len;
    return ev->is_final ? 1 : 0;
}
