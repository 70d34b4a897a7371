/* SPDX-License-Identifier: MIT */
/* engine.h -- hearth's whole contract with llama.cpp.
 *
 * Nothing outside src/engine includes llama.h: models, contexts, sampling,
 * chat templates and token text all go through this header.
 *
 * Objects and threads:
 *   hr_model    a loaded GGUF. Read-only after load; may be shared by several
 *               sessions and read from any thread.
 *   hr_session  one llama context (KV cache) plus its generation loop. Used
 *               by one thread at a time, except hr_session_cancel(), which any
 *               thread may call at any time.
 */
#ifndef HR_ENGINE_ENGINE_H
#define HR_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct hr_model hr_model;
typedef struct hr_session hr_session;

/* ---- process-wide ------------------------------------------------------ */

/* Initialise llama.cpp's backends once per process. verbose passes
 * llama.cpp's own log through to stderr; otherwise only its errors are shown
 * when HEARTH_LOG=debug. Safe to call more than once. */
void hr_engine_init(bool verbose);

/* The number of online CPU cores: the default thread count. */
int hr_engine_default_threads(void);

/* ---- models ------------------------------------------------------------ */

/* Model load options. A zero-initialised struct means all defaults. */
typedef struct hr_model_opts {
    bool cpu_only; /* keep every layer on the CPU even when a GPU exists */
    /* Called with the load fraction in [0, 1] as tensors are read; may be
     * NULL. Runs on the loading thread. */
    void (*progress)(float fraction, void *ud);
    void *progress_ud;
} hr_model_opts;

/* What a loaded model says about itself. */
typedef struct hr_model_info {
    char arch[32];        /* general.architecture, e.g. "llama" */
    char name[128];       /* general.name, else the file's base name */
    char quant[32];       /* weight type, e.g. "Q4_K - Medium" or "all F32" */
    uint64_t n_params;    /* parameter count */
    uint64_t size_bytes;  /* bytes of tensor data */
    int32_t n_ctx_train;  /* context length the model was trained with */
    int32_t n_embd;       /* embedding width */
    int32_t n_layer;      /* transformer blocks */
    int32_t n_vocab;      /* vocabulary size */
    bool has_chat_template; /* the GGUF carries tokenizer.chat_template */
} hr_model_info;

/* Load the GGUF at path. The file is checked before llama.cpp sees it, so a
 * missing, unreadable, empty, non-GGUF or truncated file gives a specific
 * code and a one-line message in err (HR_ENOENT, HR_EACCES, HR_EISDIR,
 * HR_EFORMAT, HR_EMODEL). *out is NULL on failure. */
int hr_model_load(hr_model **out, const char *path, const hr_model_opts *opts, char *err,
                  size_t errlen);

/* Free the model. Every session made from it must be freed first. NULL is a
 * no-op. */
void hr_model_free(hr_model *m);

/* Fill *info (never fails). */
void hr_model_get_info(const hr_model *m, hr_model_info *info);

/* The path the model was loaded from; valid until hr_model_free. */
const char *hr_model_path(const hr_model *m);

/* Tokenize text[0..len). add_bos prepends BOS when the vocabulary wants one;
 * parse_special lets text such as "<|im_start|>" become control tokens (use
 * it for template output, not for raw user text). On success *toks is an
 * hr_malloc'd array the caller frees with hr_free and *n_toks its length. */
int hr_model_tokenize(const hr_model *m, const char *text, size_t len, bool add_bos,
                      bool parse_special, int32_t **toks, size_t *n_toks);

/* Append the text of one token to out (special tokens render as their
 * text). The bytes may be part of a multi-byte character. */
int hr_model_token_piece(const hr_model *m, int32_t tok, hr_buf *out);

/* Append the text of a token sequence to out, as llama.cpp joins it. */
int hr_model_detokenize(const hr_model *m, const int32_t *toks, size_t n, hr_buf *out);

/* True when tok ends generation (EOS, EOT and the like). */
bool hr_model_token_is_eog(const hr_model *m, int32_t tok);

/* One chat message; strings are NUL-terminated and borrowed. */
typedef struct hr_chat_msg {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* message text */
} hr_chat_msg;

/* Render msgs with the model's chat template, appending to out. When the
 * model has no template, or llama.cpp does not recognise it, ChatML is used:
 *   <|im_start|>ROLE\nCONTENT<|im_end|>\n ... and, when add_assistant,
 *   <|im_start|>assistant\n
 * *used_fallback (may be NULL) says which happened. */
int hr_model_chat_apply(const hr_model *m, const hr_chat_msg *msgs, size_t n, bool add_assistant,
                        hr_buf *out, bool *used_fallback);

/* ---- sessions ---------------------------------------------------------- */

/* Session options. A zero-initialised struct means all defaults. */
typedef struct hr_session_opts {
    uint32_t n_ctx;     /* context tokens; 0 = min(model's trained context, 4096) */
    int32_t n_threads;  /* compute threads; 0 = hr_engine_default_threads() */
    uint32_t n_batch;   /* prompt tokens decoded per step; 0 = 512 */
} hr_session_opts;

/* Make a context for m. A context larger than the model's trained context is
 * refused with HR_ECTXFULL (llama.cpp would silently degrade). */
int hr_session_new(hr_session **out, hr_model *m, const hr_session_opts *opts, char *err,
                   size_t errlen);

/* NULL is a no-op. Must not race with hr_session_generate. */
void hr_session_free(hr_session *s);

/* The session's context size in tokens. */
uint32_t hr_session_n_ctx(const hr_session *s);

/* Sampling and stopping. Fill with hr_gen_params_init: a zeroed struct is
 * NOT the defaults here, since temperature 0 has a meaning (greedy). */
#define HR_GEN_MAX_STOP 8
#define HR_GEN_MAX_TOP_LOGPROBS 20
#define HR_GEN_UNLIMITED INT32_MAX
#define HR_SEED_RANDOM UINT32_MAX

typedef struct hr_gen_params {
    float temperature;       /* 0.8; 0 = greedy (argmax) */
    float top_p;             /* 0.95; 1 = off */
    int32_t top_k;           /* 40; 0 = off */
    float min_p;             /* 0.05; 0 = off */
    float repeat_penalty;    /* 1.0 = off */
    int32_t repeat_last_n;   /* 64 tokens considered by the penalties */
    float presence_penalty;  /* 0 = off, OpenAI semantics, in [-2, 2] */
    float frequency_penalty; /* 0 = off, OpenAI semantics, in [-2, 2] */
    uint32_t seed;           /* HR_SEED_RANDOM = a fresh random seed */
    int32_t max_tokens;      /* > 0, or HR_GEN_UNLIMITED (until EOS or full) */
    const char *stop[HR_GEN_MAX_STOP]; /* stop strings, borrowed; never emitted */
    size_t n_stop;
    bool logprobs;           /* report each sampled token's log-probability */
    int32_t top_logprobs;    /* also report this many alternatives (0..20) */
    bool ignore_eos;         /* never sample end-of-generation tokens */
    const char *grammar;     /* GBNF the output must match (root rule "root"),
                                borrowed; NULL = free text; HR_GRAMMAR_JSON */
} hr_gen_params;

/* A GBNF grammar for one JSON object, for response_format json_object. */
extern const char HR_GRAMMAR_JSON[];

void hr_gen_params_init(hr_gen_params *p);

/* Check every field's range. Returns 0, or HR_EINVAL with a one-line message
 * naming the field (e.g. "max_tokens must be > 0"). */
int hr_gen_params_check(const hr_gen_params *p, char *err, size_t errlen);

/* A candidate token and its log-probability under the model's unmodified
 * distribution (log-softmax of the raw logits over the whole vocabulary,
 * before temperature, penalties or truncation, as the OpenAI API reports). */
typedef struct hr_token_prob {
    int32_t id;
    float logprob;
} hr_token_prob;

/* One step of generation, passed to the callback. Pointers are valid only
 * during the call. */
typedef struct hr_gen_event {
    int32_t token;          /* the sampled token */
    const char *piece;      /* its raw text (may split a UTF-8 character) */
    size_t piece_len;
    const char *text;       /* text that became safe to show at this step:  */
    size_t text_len;        /* whole UTF-8 characters, stop strings removed; */
                            /* may be empty while text is held back          */
    float logprob;          /* the token's logprob when params.logprobs */
    const hr_token_prob *top; /* params.top_logprobs alternatives, best first */
    size_t n_top;
    int32_t n_generated;    /* tokens generated so far, this one included */
    bool is_final;          /* no event follows: text flushed, generation over */
} hr_gen_event;

/* Return false to stop generating (finish reason HR_FINISH_CANCELED). */
typedef bool (*hr_gen_cb)(const hr_gen_event *ev, void *ud);

typedef enum hr_finish {
    HR_FINISH_STOP = 0,     /* end-of-generation token or a stop string */
    HR_FINISH_LENGTH = 1,   /* max_tokens reached or the context is full */
    HR_FINISH_CANCELED = 2, /* hr_session_cancel or the callback said stop */
} hr_finish;

typedef struct hr_gen_result {
    hr_finish finish;
    int32_t n_prompt;       /* prompt tokens */
    int32_t n_prompt_cached;/* of which were reused from the KV cache */
    int32_t n_generated;    /* tokens sampled (a matched stop string's included) */
    double prompt_ms;       /* time to process the prompt */
    double gen_ms;          /* time from the first to the last sampled token */
} hr_gen_result;

/* Generate a continuation of prompt[0..len), tokenized with BOS when the
 * model wants it and special tokens parsed. The longest prefix shared with
 * the previous call's tokens is reused from the KV cache, so a growing chat
 * only processes its new turn. cb (may be NULL) sees every token. res (may
 * be NULL) gets counts and timings. Returns 0 (also when canceled), or
 * HR_EINVAL (bad params), HR_ECTXFULL (prompt does not fit), HR_EDECODE. */
int hr_session_generate(hr_session *s, const char *prompt, size_t len, const hr_gen_params *p,
                        hr_gen_cb cb, void *ud, hr_gen_result *res, char *err, size_t errlen);

/* Ask a running hr_session_generate to stop; it returns after at most the
 * token being computed. Safe from any thread and from signal handlers. A
 * cancel that arrives while nothing runs is forgotten at the next start. */
void hr_session_cancel(hr_session *s);

/* Forget the KV cache, so the next call processes its whole prompt. */
void hr_session_reset(hr_session *s);

/* ---- the serving engine: continuous batching on its own thread ---------
 *
 * hr_engine owns one llama context with a KV sequence per slot and one
 * thread. Between decode steps it admits queued jobs into free slots; each
 * step decodes one token for every running stream plus a chunk of pending
 * prompts, in one llama_decode. Jobs go in with hr_engine_submit (any
 * thread); results come back as events on a queue whose fd becomes readable
 * when it goes from empty to non-empty, so an event loop can watch it.
 * Requests are named by the caller's uint64_t id, never by pointer. */
typedef struct hr_engine hr_engine;

/* A zero-initialised struct means all defaults. */
typedef struct hr_engine_opts {
    uint32_t n_slots;   /* sequences decoded together; 0 = 4 */
    uint32_t n_ctx;     /* total context, split evenly among the slots;
                           0 = n_slots * min(model's trained context, 4096) */
    int32_t n_threads;  /* compute threads; 0 = hr_engine_default_threads() */
    uint32_t n_batch;   /* most tokens per decode step; 0 = 512 */
    uint32_t max_queue; /* jobs that may wait for a slot; 0 = 64 */
} hr_engine_opts;

/* Start the engine thread. Refuses a per-slot context above the model's
 * trained context (HR_ECTXFULL). */
int hr_engine_open(hr_engine **out, hr_model *m, const hr_engine_opts *opts, char *err,
                   size_t errlen);

/* Cancel everything, join the thread, free all. Events not yet polled are
 * dropped. NULL is a no-op. */
void hr_engine_close(hr_engine *e);

uint32_t hr_engine_n_slots(const hr_engine *e);
uint32_t hr_engine_n_ctx_slot(const hr_engine *e); /* context per slot, in tokens */

typedef struct hr_job {
    uint64_t id;         /* the caller's name for it, echoed in every event */
    int32_t *tokens;     /* the prompt; the engine takes ownership (hr_free) */
    size_t n_tokens;     /* >= 1 and < hr_engine_n_ctx_slot() */
    hr_gen_params params; /* checked; stop strings are copied */
    bool embed;          /* mean-pooled, L2-normalised embedding instead of text */
} hr_job;

/* Queue a job. Returns 0 (events will follow, ending with HR_EV_DONE),
 * HR_EQUEUEFULL (every slot busy and max_queue jobs waiting), HR_EINVAL,
 * HR_ECTXFULL or HR_ENOMEM; on failure the caller keeps job->tokens. */
int hr_engine_submit(hr_engine *e, hr_job *job);

/* Stop job id, queued or running; its slot is free after the current step
 * and a HR_EV_DONE with HR_FINISH_CANCELED follows. Unknown ids are ignored.
 * Any thread. */
void hr_engine_cancel(hr_engine *e, uint64_t id);

/* Readable while events wait; hr_engine_poll drains it. */
int hr_engine_fd(const hr_engine *e);

typedef enum hr_ev_type {
    HR_EV_TOKEN = 0,     /* one generated token: tok */
    HR_EV_EMBEDDING = 1, /* embd[0..n_embd) */
    HR_EV_DONE = 2,      /* the job is over: res (and err if it failed) */
} hr_ev_type;

typedef struct hr_engine_event {
    struct hr_engine_event *next;
    uint64_t id;
    hr_ev_type type;
    hr_gen_event tok;  /* TOKEN; pointers valid until the event is freed */
    hr_gen_result res; /* DONE */
    int err;           /* DONE: 0, or why the job failed */
    float *embd;       /* EMBEDDING */
    int32_t n_embd;
} hr_engine_event;

/* Take every waiting event, oldest first, as a list linked by next; NULL if
 * none. The caller frees each with hr_engine_event_free. */
hr_engine_event *hr_engine_poll(hr_engine *e);
void hr_engine_event_free(hr_engine_event *ev);

typedef struct hr_engine_stats {
    uint32_t slots_busy;  /* slots running a job */
    uint32_t queue_depth; /* jobs waiting for a slot */
    uint64_t steps;       /* decode steps so far */
} hr_engine_stats;

/* A snapshot; any thread. */
void hr_engine_get_stats(const hr_engine *e, hr_engine_stats *st);

#endif
