/* SPDX-License-Identifier: MIT */
/* sampler.c -- sampling parameters: defaults, validation, llama.cpp's
 * sampler chain, and logprobs.
 *
 * Logprobs are computed here from the raw logits rather than read back from
 * the sampler chain, because the chain's probabilities are those after
 * temperature and truncation, and clients (the OpenAI API) expect the
 * model's own distribution over the whole vocabulary. */
#include "engine/engine_int.h"

#include <math.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

/* Whitespace is bounded so a model cannot pad forever inside the object. */
const char HR_GRAMMAR_JSON[] =
    "root ::= object\n"
    "value ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" "
    "[0-9a-fA-F]{4}) )* \"\\\"\" ws\n"
    "number ::= \"-\"? ([0-9] | [1-9] [0-9]{0,15}) (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,4})? ws\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";

void hr_gen_params_init(hr_gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->temperature = 0.8f;
    p->top_p = 0.95f;
    p->top_k = 40;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = HR_SEED_RANDOM;
    p->max_tokens = HR_GEN_UNLIMITED;
}

#define bad(...) hr_errf(err, errlen, HR_EINVAL, __VA_ARGS__)

int hr_gen_params_check(const hr_gen_params *p, char *err, size_t errlen)
{
    if (!(p->temperature >= 0.0f && p->temperature <= 100.0f)) {
        return bad("temperature must be between 0 and 100, got %g", p->temperature);
    }
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) {
        return bad("top_p must be in (0, 1], got %g", p->top_p);
    }
    if (p->top_k < 0) {
        return bad("top_k must be >= 0, got %d", p->top_k);
    }
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f)) {
        return bad("min_p must be in [0, 1], got %g", p->min_p);
    }
    if (!(p->repeat_penalty > 0.0f && p->repeat_penalty <= 10.0f)) {
        return bad("repeat_penalty must be in (0, 10], got %g", p->repeat_penalty);
    }
    if (p->repeat_last_n < 0) {
        return bad("repeat_last_n must be >= 0, got %d", p->repeat_last_n);
    }
    if (!(p->presence_penalty >= -2.0f && p->presence_penalty <= 2.0f)) {
        return bad("presence_penalty must be in [-2, 2], got %g", p->presence_penalty);
    }
    if (!(p->frequency_penalty >= -2.0f && p->frequency_penalty <= 2.0f)) {
        return bad("frequency_penalty must be in [-2, 2], got %g", p->frequency_penalty);
    }
    if (p->max_tokens <= 0) {
        return bad("max_tokens must be > 0, got %d", p->max_tokens);
    }
    if (p->n_stop > HR_GEN_MAX_STOP) {
        return bad("at most %d stop strings are allowed", HR_GEN_MAX_STOP);
    }
    if (p->top_logprobs < 0 || p->top_logprobs > HR_GEN_MAX_TOP_LOGPROBS) {
        return bad("top_logprobs must be between 0 and %d, got %d", HR_GEN_MAX_TOP_LOGPROBS,
                   p->top_logprobs);
    }
    return 0;
}

/* A -inf bias on every end-of-generation token, for benchmarks and for
 * clients that ask for exactly max_tokens tokens. */
static int add_eog_ban(struct llama_sampler *c, const hr_model *m)
{
    int32_t n_vocab = m->info.n_vocab;
    int32_t n = 0;
    for (int32_t t = 0; t < n_vocab; t++) {
        n += llama_vocab_is_eog(m->vocab, t);
    }
    llama_logit_bias *bias = hr_calloc((size_t)n, sizeof *bias);
    if (!bias) {
        return HR_ENOMEM;
    }
    int32_t k = 0;
    for (int32_t t = 0; t < n_vocab && k < n; t++) {
        if (llama_vocab_is_eog(m->vocab, t)) {
            bias[k].token = t;
            bias[k].bias = -INFINITY;
            k++;
        }
    }
    llama_sampler_chain_add(c, llama_sampler_init_logit_bias(n_vocab, n, bias));
    hr_free(bias);
    return 0;
}

struct llama_sampler *hr__sampler_new(const hr_model *m, const hr_gen_params *p)
{
    struct llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    cp.no_perf = true;
    struct llama_sampler *c = llama_sampler_chain_init(cp);
    if (!c) {
        return NULL;
    }
    if (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f ||
        p->frequency_penalty != 0.0f) {
        llama_sampler_chain_add(c, llama_sampler_init_penalties(
                                       m->info.n_vocab, p->repeat_last_n, p->repeat_penalty,
                                       p->frequency_penalty, p->presence_penalty));
    }
    if (p->grammar) {
        struct llama_sampler *g = llama_sampler_init_grammar(m->vocab, p->grammar, "root");
        if (!g) {
            llama_sampler_free(c);
            return NULL;
        }
        llama_sampler_chain_add(c, g);
    }
    if (p->ignore_eos && add_eog_ban(c, m) < 0) {
        llama_sampler_free(c);
        return NULL;
    }
    if (p->temperature <= 0.0f) {
        llama_sampler_chain_add(c, llama_sampler_init_greedy());
        return c;
    }
    if (p->top_k > 0) {
        llama_sampler_chain_add(c, llama_sampler_init_top_k(p->top_k));
    }
    if (p->top_p < 1.0f) {
        llama_sampler_chain_add(c, llama_sampler_init_top_p(p->top_p, 1));
    }
    if (p->min_p > 0.0f) {
        llama_sampler_chain_add(c, llama_sampler_init_min_p(p->min_p, 1));
    }
    llama_sampler_chain_add(c, llama_sampler_init_temp(p->temperature));
    llama_sampler_chain_add(c, llama_sampler_init_dist(p->seed));
    return c;
}

float hr__logprobs(const float *logits, int32_t n_vocab, int32_t tok, hr_token_prob *top,
                   size_t n_top)
{
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) {
        if (logits[i] > max) {
            max = logits[i];
        }
    }
    /* Sum in double: 150k terms in float lose the digits logprobs need. */
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) {
        sum += exp((double)logits[i] - max);
    }
    double lse = max + log(sum);

    /* Insertion into a small sorted array: n_top is at most 20. */
    size_t have = 0;
    for (int32_t i = 0; i < n_vocab && n_top > 0; i++) {
        float lp = (float)(logits[i] - lse);
        if (have == n_top && lp <= top[have - 1].logprob) {
            continue;
        }
        size_t j = have < n_top ? have++ : n_top - 1;
        while (j > 0 && top[j - 1].logprob < lp) {
            top[j] = top[j - 1];
            j--;
        }
        top[j].id = i;
        top[j].logprob = lp;
    }
    return (float)(logits[tok] - lse);
}
