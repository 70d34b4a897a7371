/* SPDX-License-Identifier: MIT */
/* sched.c -- the serving engine: continuous batching on one thread.
 *
 * NOTES
 *  1. Threads. Everything below the "engine thread" line runs on the engine
 *     thread, which alone touches the llama contexts, the slots and the
 *     batch. The inbound queue, the cancel list and `stopping` are guarded by
 *     mu; the outbound event list by out_mu. Callers only ever submit,
 *     cancel, poll and read stats.
 *  2. Wakeups. The engine sleeps on cv only while no slot is busy. The loop
 *     side learns of events through an eventfd written only when the event
 *     list goes from empty to non-empty; hr_engine_poll reads the eventfd
 *     before taking the list, so no event can be left behind unsignalled.
 *  3. A step. Every generating slot contributes its last sampled token, then
 *     prefilling slots fill what is left of n_batch with prompt chunks, so a
 *     long prompt never stalls running streams for more than one step.
 *  4. KV reuse. A slot keeps its tokens after a job ends; a new job goes to
 *     the free slot sharing the longest prefix with it, and only the rest of
 *     its prompt is decoded.
 */
#include "engine/engine_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

#define DEFAULT_SLOTS 4u
#define DEFAULT_BATCH 512u
#define DEFAULT_QUEUE 64u
#define DEFAULT_MAX_CTX 4096u

typedef struct job_node {
    hr_job job;
    char *stops[HR_GEN_MAX_STOP]; /* owned copies behind job.params.stop */
    char *grammar;                /* owned copy behind job.params.grammar */
    struct job_node *next;
} job_node;

typedef struct slot {
    int32_t idx;          /* also its KV sequence id */
    job_node *jn;         /* the running job, or NULL when free */
    int32_t *cache;       /* tokens in this sequence's KV, n_ctx_slot long */
    size_t n_cache;
    size_t n_done;        /* prompt tokens of jn already in the KV */
    bool generating;      /* prompt done; next_tok waits to be decoded */
    int32_t next_tok;
    int32_t i_batch;      /* where its logits are in this step, or -1 */
    hr_seq seq;
    hr_gen_result res;
    double t_admit;
    uint64_t last_used;
} slot;

struct hr_engine {
    hr_model *m;
    struct llama_context *ctx;
    struct llama_context *ectx; /* embeddings, made on first use */
    uint32_t n_slots, n_ctx_slot, n_batch, max_queue;
    slot *slots;
    struct llama_batch batch;
    uint64_t tick;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu; /* guards in_*, cancels, stopping */
    pthread_cond_t cv;
    job_node *in_head, *in_tail;
    uint32_t n_in;
    uint64_t *cancels;
    size_t n_cancels, cap_cancels;
    bool stopping;

    pthread_mutex_t out_mu; /* guards out_* */
    hr_engine_event *out_head, *out_tail;
    int efd;

    _Atomic uint32_t busy;
    _Atomic uint64_t steps;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void job_node_free(job_node *jn)
{
    if (!jn) {
        return;
    }
    hr_free(jn->job.tokens);
    for (size_t i = 0; i < HR_GEN_MAX_STOP; i++) {
        hr_free(jn->stops[i]);
    }
    hr_free(jn->grammar);
    hr_free(jn);
}

/* ---- events ------------------------------------------------------------- */

static hr_engine_event *event_new(uint64_t id, hr_ev_type type, size_t extra)
{
    hr_engine_event *ev = hr_calloc(1, sizeof *ev + extra);
    if (ev) {
        ev->id = id;
        ev->type = type;
    }
    return ev;
}

/* Copy a token event into one allocation that owns all its strings. */
static hr_engine_event *event_token(uint64_t id, const hr_gen_event *g)
{
    size_t top = g->n_top * sizeof(hr_token_prob);
    hr_engine_event *ev = event_new(id, HR_EV_TOKEN, top + g->text_len + g->piece_len + 2);
    if (!ev) {
        return NULL;
    }
    char *p = (char *)(ev + 1);
    ev->tok = *g;
    if (top) {
        memcpy(p, g->top, top);
    }
    ev->tok.top = (const hr_token_prob *)p;
    p += top;
    memcpy(p, g->text, g->text_len);
    p[g->text_len] = '\0';
    ev->tok.text = p;
    p += g->text_len + 1;
    memcpy(p, g->piece, g->piece_len);
    p[g->piece_len] = '\0';
    ev->tok.piece = p;
    return ev;
}

void hr_engine_event_free(hr_engine_event *ev)
{
    if (ev) {
        hr_free(ev->embd);
        hr_free(ev);
    }
}

/* Events made during a step are gathered here and published together. */
typedef struct ev_list {
    hr_engine_event *head, *tail;
} ev_list;

static void ev_add(ev_list *l, hr_engine_event *ev)
{
    if (!ev) {
        hr_log(HR_LOG_ERROR, "engine", "out of memory: an event was dropped");
        return;
    }
    ev->next = NULL;
    if (l->tail) {
        l->tail->next = ev;
    } else {
        l->head = ev;
    }
    l->tail = ev;
}

static void publish(hr_engine *e, ev_list *l)
{
    if (!l->head) {
        return;
    }
    pthread_mutex_lock(&e->out_mu);
    bool was_empty = e->out_head == NULL;
    if (e->out_tail) {
        e->out_tail->next = l->head;
    } else {
        e->out_head = l->head;
    }
    e->out_tail = l->tail;
    pthread_mutex_unlock(&e->out_mu);
    l->head = l->tail = NULL;
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(e->efd, &one, sizeof one);
        (void)w; /* the counter cannot overflow at one write per publish */
    }
}

hr_engine_event *hr_engine_poll(hr_engine *e)
{
    uint64_t v;
    ssize_t r = read(e->efd, &v, sizeof v); /* first, see NOTES 2 */
    (void)r;
    pthread_mutex_lock(&e->out_mu);
    hr_engine_event *head = e->out_head;
    e->out_head = e->out_tail = NULL;
    pthread_mutex_unlock(&e->out_mu);
    return head;
}

static void emit_done(ev_list *l, uint64_t id, const hr_gen_result *res, int err)
{
    hr_engine_event *ev = event_new(id, HR_EV_DONE, 0);
    if (ev) {
        ev->res = *res;
        ev->err = err;
    }
    ev_add(l, ev);
}

/* ---- engine thread: slots ------------------------------------------------ */

static void slot_release(hr_engine *e, slot *s)
{
    hr__seq_deinit(&s->seq);
    job_node_free(s->jn);
    s->jn = NULL;
    s->generating = false;
    s->i_batch = -1;
    s->last_used = ++e->tick;
    atomic_fetch_sub(&e->busy, 1);
}

/* The whole sequence's KV is unknown (a failed decode): forget it. */
static void slot_forget_kv(hr_engine *e, slot *s)
{
    llama_memory_seq_rm(llama_get_memory(e->ctx), s->idx, -1, -1);
    s->n_cache = 0;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) {
        i++;
    }
    return i;
}

/* The free slot sharing the longest prefix with toks; the least recently
 * used among equals. NULL when every slot is busy. */
static slot *pick_slot(hr_engine *e, const int32_t *toks, size_t n)
{
    slot *best = NULL;
    size_t best_len = 0;
    for (uint32_t i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (s->jn) {
            continue;
        }
        size_t len = common_prefix(s->cache, s->n_cache, toks, n);
        if (!best || len > best_len || (len == best_len && s->last_used < best->last_used)) {
            best = s;
            best_len = len;
        }
    }
    return best;
}

static void slot_start(hr_engine *e, slot *s, job_node *jn, ev_list *l)
{
    const hr_job *j = &jn->job;
    size_t keep = common_prefix(s->cache, s->n_cache, j->tokens, j->n_tokens);
    if (keep == j->n_tokens) {
        keep--; /* sampling needs the last prompt token's logits */
    }
    if (!llama_memory_seq_rm(llama_get_memory(e->ctx), s->idx, (llama_pos)keep, -1)) {
        slot_forget_kv(e, s);
        keep = 0;
    }
    s->n_cache = keep;
    s->n_done = keep;
    s->jn = jn;
    s->generating = false;
    s->i_batch = -1;
    memset(&s->res, 0, sizeof s->res);
    s->res.n_prompt = (int32_t)j->n_tokens;
    s->res.n_prompt_cached = (int32_t)keep;
    s->t_admit = now_ms();
    atomic_fetch_add(&e->busy, 1);
    int rc = hr__seq_init(&s->seq, e->m, &jn->job.params, j->tokens, j->n_tokens);
    if (rc < 0) {
        emit_done(l, j->id, &s->res, rc);
        slot_release(e, s);
    }
}

/* ---- engine thread: embeddings ----------------------------------------- */

static void run_embed(hr_engine *e, job_node *jn, ev_list *l)
{
    hr_gen_result res = {.n_prompt = (int32_t)jn->job.n_tokens};
    double t0 = now_ms();
    hr_engine_event *ev = event_new(jn->job.id, HR_EV_EMBEDDING, 0);
    int rc = ev ? hr__embed(e->m, &e->ectx, e->n_ctx_slot, llama_n_threads(e->ctx), jn->job.tokens,
                            jn->job.n_tokens, &ev->embd, &ev->n_embd)
                : HR_ENOMEM;
    res.prompt_ms = now_ms() - t0;
    if (rc == 0) {
        ev_add(l, ev);
    } else {
        hr_engine_event_free(ev);
    }
    emit_done(l, jn->job.id, &res, rc);
    job_node_free(jn);
}

/* ---- engine thread: one decode step ------------------------------------ */

static void batch_add(struct llama_batch *b, int32_t tok, llama_pos pos, int32_t seq, bool out)
{
    int32_t i = b->n_tokens++;
    b->token[i] = tok;
    b->pos[i] = pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = seq;
    b->logits[i] = out;
}

/* Fill the batch (NOTES 3). Each slot's added tokens are remembered in its
 * cache right away; they count once the decode succeeds. */
static void build_batch(hr_engine *e)
{
    struct llama_batch *b = &e->batch;
    b->n_tokens = 0;
    for (uint32_t i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        s->i_batch = -1;
        if (s->jn && s->generating) {
            s->i_batch = b->n_tokens;
            batch_add(b, s->next_tok, (llama_pos)s->n_cache, s->idx, true);
            s->cache[s->n_cache++] = s->next_tok;
        }
    }
    int32_t budget = (int32_t)e->n_batch - b->n_tokens;
    for (uint32_t i = 0; i < e->n_slots && budget > 0; i++) {
        slot *s = &e->slots[i];
        if (!s->jn || s->generating) {
            continue;
        }
        const hr_job *j = &s->jn->job;
        size_t k = j->n_tokens - s->n_done;
        k = k < (size_t)budget ? k : (size_t)budget;
        for (size_t t = 0; t < k; t++) {
            bool last = s->n_done + 1 == j->n_tokens;
            if (last) {
                s->i_batch = b->n_tokens;
            }
            batch_add(b, j->tokens[s->n_done], (llama_pos)s->n_cache, s->idx, last);
            s->cache[s->n_cache++] = j->tokens[s->n_done++];
        }
        budget -= (int32_t)k;
    }
}

/* Sample, report and maybe finish every slot that has logits this step. */
static void sample_slots(hr_engine *e, ev_list *l)
{
    for (uint32_t i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (!s->jn || s->i_batch < 0) {
            continue;
        }
        if (!s->generating) {
            s->res.prompt_ms = now_ms() - s->t_admit;
            s->generating = true;
        }
        hr_gen_event g;
        hr_finish fin = HR_FINISH_STOP;
        bool full = s->n_cache + 1 >= e->n_ctx_slot;
        int rc = hr__seq_step(&s->seq, e->ctx, s->i_batch, full, &g, &fin);
        if (rc >= 0) {
            ev_add(l, event_token(s->jn->job.id, &g));
            s->res.n_generated = g.n_generated;
            s->next_tok = g.token;
        }
        if (rc != 0) {
            s->res.finish = fin;
            s->res.gen_ms = now_ms() - s->t_admit - s->res.prompt_ms;
            emit_done(l, s->jn->job.id, &s->res, rc < 0 ? rc : 0);
            slot_release(e, s);
        }
    }
}

static void step(hr_engine *e, ev_list *l)
{
    build_batch(e);
    if (e->batch.n_tokens == 0) {
        return;
    }
    int rc = llama_decode(e->ctx, e->batch);
    atomic_fetch_add(&e->steps, 1);
    if (rc != 0) {
        hr_log(HR_LOG_ERROR, "engine", "llama_decode failed (%d) on %d tokens", rc,
               e->batch.n_tokens);
        for (uint32_t i = 0; i < e->n_slots; i++) {
            slot *s = &e->slots[i];
            if (s->jn) {
                emit_done(l, s->jn->job.id, &s->res, HR_EDECODE);
                slot_forget_kv(e, s);
                slot_release(e, s);
            }
        }
        return;
    }
    sample_slots(e, l);
}

/* ---- engine thread: admission, cancellation, the loop -------------------- */

/* Under mu: pop the jobs that can start now (NOTES 1). */
static job_node *take_admissible(hr_engine *e)
{
    job_node *head = NULL, **tail = &head;
    uint32_t free_slots = e->n_slots - atomic_load(&e->busy);
    while (e->in_head && (e->in_head->job.embed || free_slots > 0)) {
        job_node *jn = e->in_head;
        e->in_head = jn->next;
        if (!e->in_head) {
            e->in_tail = NULL;
        }
        e->n_in--;
        free_slots -= jn->job.embed ? 0 : 1;
        jn->next = NULL;
        *tail = jn;
        tail = &jn->next;
    }
    return head;
}

/* Under mu: drop queued jobs named in the cancel list. */
static void cancel_queued(hr_engine *e, const uint64_t *ids, size_t n, ev_list *l)
{
    job_node **pp = &e->in_head;
    e->in_tail = NULL;
    while (*pp) {
        job_node *jn = *pp;
        bool hit = false;
        for (size_t i = 0; i < n && !hit; i++) {
            hit = jn->job.id == ids[i];
        }
        if (hit) {
            hr_gen_result res = {.finish = HR_FINISH_CANCELED,
                                 .n_prompt = (int32_t)jn->job.n_tokens};
            *pp = jn->next;
            e->n_in--;
            emit_done(l, jn->job.id, &res, 0);
            job_node_free(jn);
        } else {
            e->in_tail = jn;
            pp = &jn->next;
        }
    }
}

static void cancel_running(hr_engine *e, const uint64_t *ids, size_t n, ev_list *l)
{
    for (uint32_t i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        for (size_t k = 0; s->jn && k < n; k++) {
            if (s->jn->job.id == ids[k]) {
                s->res.finish = HR_FINISH_CANCELED;
                emit_done(l, ids[k], &s->res, 0);
                slot_release(e, s);
            }
        }
    }
}

static void *engine_main(void *arg)
{
    hr_engine *e = arg;
    uint64_t *ids = NULL;
    size_t cap_ids = 0;
    for (;;) {
        ev_list l = {0};
        pthread_mutex_lock(&e->mu);
        while (!e->stopping && atomic_load(&e->busy) == 0 && e->n_cancels == 0 &&
               !e->in_head) {
            pthread_cond_wait(&e->cv, &e->mu);
        }
        if (e->stopping) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        /* Swap the cancel list out so the lock is held only briefly. */
        uint64_t *c = e->cancels;
        size_t n_c = e->n_cancels, cap_c = e->cap_cancels;
        e->cancels = ids;
        e->cap_cancels = cap_ids;
        e->n_cancels = 0;
        ids = c;
        cap_ids = cap_c;
        cancel_queued(e, ids, n_c, &l);
        job_node *admit = take_admissible(e);
        pthread_mutex_unlock(&e->mu);

        cancel_running(e, ids, n_c, &l);
        while (admit) {
            job_node *jn = admit;
            admit = jn->next;
            if (jn->job.embed) {
                run_embed(e, jn, &l);
            } else {
                slot_start(e, pick_slot(e, jn->job.tokens, jn->job.n_tokens), jn, &l);
            }
        }
        if (atomic_load(&e->busy) > 0) {
            step(e, &l);
        }
        publish(e, &l);
    }
    hr_free(ids);
    return NULL;
}

/* ---- any thread ----------------------------------------------------------- */

static int make_context(hr_engine *e, const hr_engine_opts *o, char *err, size_t errlen)
{
    struct llama_context_params cp = llama_context_default_params();
    int threads = o->n_threads ? o->n_threads : hr_engine_default_threads();
    cp.n_ctx = e->n_ctx_slot * e->n_slots;
    cp.n_batch = e->n_batch + e->n_slots; /* a step may exceed n_batch by the streams */
    cp.n_ubatch = cp.n_batch < 512 ? cp.n_batch : 512;
    cp.n_seq_max = e->n_slots;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.kv_unified = false; /* each slot attends over its own cells only */
    cp.no_perf = true;
    e->ctx = llama_init_from_model(e->m->lm, cp);
    if (!e->ctx) {
        return hr_errf(err, errlen, HR_EMODEL, "llama.cpp could not create a %u x %u context",
                       e->n_slots, e->n_ctx_slot);
    }
    e->batch = llama_batch_init((int32_t)cp.n_batch, 0, 1);
    return 0;
}

static int check_opts(hr_engine *e, const hr_engine_opts *o, char *err, size_t errlen)
{
    uint32_t train = e->m->info.n_ctx_train > 0 ? (uint32_t)e->m->info.n_ctx_train : 4096;
    e->n_slots = o->n_slots ? o->n_slots : DEFAULT_SLOTS;
    if (e->n_slots > 256) {
        return hr_errf(err, errlen, HR_EINVAL, "parallel must be between 1 and 256, got %u",
                       e->n_slots);
    }
    uint32_t per = train < DEFAULT_MAX_CTX ? train : DEFAULT_MAX_CTX;
    e->n_ctx_slot = o->n_ctx ? o->n_ctx / e->n_slots : per;
    if (e->n_ctx_slot > train) {
        return hr_errf(err, errlen, HR_ECTXFULL,
                       "context per slot %u (ctx-size %u / parallel %u) exceeds the model's "
                       "trained context of %u tokens", e->n_ctx_slot, o->n_ctx, e->n_slots, train);
    }
    if (e->n_ctx_slot < 16) {
        return hr_errf(err, errlen, HR_EINVAL, "context per slot %u is too small (minimum 16)",
                       e->n_ctx_slot);
    }
    if (o->n_threads < 0 || o->n_threads > 1024) {
        return hr_errf(err, errlen, HR_EINVAL, "threads must be between 1 and 1024");
    }
    e->n_batch = o->n_batch ? o->n_batch : DEFAULT_BATCH;
    e->max_queue = o->max_queue ? o->max_queue : DEFAULT_QUEUE;
    return 0;
}

int hr_engine_open(hr_engine **out, hr_model *m, const hr_engine_opts *opts, char *err,
                   size_t errlen)
{
    static const hr_engine_opts defaults;
    const hr_engine_opts *o = opts ? opts : &defaults;
    *out = NULL;
    hr_engine *e = hr_calloc(1, sizeof *e);
    if (!e) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    e->m = m;
    e->efd = -1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->out_mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    int rc = check_opts(e, o, err, errlen);
    if (rc == 0) {
        e->slots = hr_calloc(e->n_slots, sizeof *e->slots);
        rc = e->slots ? 0 : hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; rc == 0 && i < e->n_slots; i++) {
        e->slots[i].idx = (int32_t)i;
        e->slots[i].i_batch = -1;
        e->slots[i].cache = hr_calloc(e->n_ctx_slot, sizeof(int32_t));
        rc = e->slots[i].cache ? 0 : hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        rc = e->efd >= 0 ? 0 : hr_errf(err, errlen, -errno, "eventfd failed");
    }
    if (rc == 0) {
        rc = make_context(e, o, err, errlen);
    }
    if (rc == 0 && pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        rc = hr_errf(err, errlen, HR_EAGAIN, "cannot start the engine thread");
    }
    if (rc < 0) {
        hr_engine_close(e);
        return rc;
    }
    e->thread_started = true;
    *out = e;
    return 0;
}

void hr_engine_close(hr_engine *e)
{
    if (!e) {
        return;
    }
    if (e->thread_started) {
        pthread_mutex_lock(&e->mu);
        e->stopping = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    while (e->in_head) {
        job_node *jn = e->in_head;
        e->in_head = jn->next;
        job_node_free(jn);
    }
    for (uint32_t i = 0; e->slots && i < e->n_slots; i++) {
        hr__seq_deinit(&e->slots[i].seq);
        job_node_free(e->slots[i].jn);
        hr_free(e->slots[i].cache);
    }
    for (hr_engine_event *ev = e->out_head, *next; ev; ev = next) {
        next = ev->next;
        hr_engine_event_free(ev);
    }
    if (e->ctx) {
        llama_batch_free(e->batch);
        llama_free(e->ctx);
    }
    if (e->ectx) {
        llama_free(e->ectx);
    }
    if (e->efd >= 0) {
        close(e->efd);
    }
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->out_mu);
    hr_free(e->cancels);
    hr_free(e->slots);
    hr_free(e);
}

uint32_t hr_engine_n_slots(const hr_engine *e)
{
    return e->n_slots;
}

uint32_t hr_engine_n_ctx_slot(const hr_engine *e)
{
    return e->n_ctx_slot;
}

int hr_engine_fd(const hr_engine *e)
{
    return e->efd;
}

/* Copy the job, with its stop strings, into a node the engine owns. */
static job_node *job_copy(const hr_job *job)
{
    job_node *jn = hr_calloc(1, sizeof *jn);
    if (!jn) {
        return NULL;
    }
    jn->job = *job;
    for (size_t i = 0; i < job->params.n_stop; i++) {
        jn->stops[i] = hr_strdup(job->params.stop[i]);
        if (!jn->stops[i]) {
            jn->job.tokens = NULL; /* the caller keeps them on failure */
            job_node_free(jn);
            return NULL;
        }
        jn->job.params.stop[i] = jn->stops[i];
    }
    if (job->params.grammar) {
        jn->grammar = hr_strdup(job->params.grammar);
        if (!jn->grammar) {
            jn->job.tokens = NULL;
            job_node_free(jn);
            return NULL;
        }
        jn->job.params.grammar = jn->grammar;
    }
    return jn;
}

int hr_engine_submit(hr_engine *e, hr_job *job)
{
    if (job->n_tokens == 0 || !job->tokens) {
        return HR_EINVAL;
    }
    if (job->n_tokens >= e->n_ctx_slot) {
        return HR_ECTXFULL;
    }
    if (!job->embed && hr_gen_params_check(&job->params, NULL, 0) < 0) {
        return HR_EINVAL;
    }
    job_node *jn = job_copy(job);
    if (!jn) {
        return HR_ENOMEM;
    }
    pthread_mutex_lock(&e->mu);
    uint32_t free_slots = e->n_slots - atomic_load(&e->busy);
    if (e->stopping || e->n_in >= e->max_queue + free_slots) {
        bool stopping = e->stopping;
        pthread_mutex_unlock(&e->mu);
        jn->job.tokens = NULL;
        job_node_free(jn);
        return stopping ? HR_ECANCELED : HR_EQUEUEFULL;
    }
    if (e->in_tail) {
        e->in_tail->next = jn;
    } else {
        e->in_head = jn;
    }
    e->in_tail = jn;
    e->n_in++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    job->tokens = NULL; /* ownership moved */
    return 0;
}

void hr_engine_cancel(hr_engine *e, uint64_t id)
{
    pthread_mutex_lock(&e->mu);
    if (e->n_cancels == e->cap_cancels) {
        size_t cap = e->cap_cancels ? e->cap_cancels * 2 : 16;
        uint64_t *c = hr_realloc(e->cancels, cap * sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&e->mu);
            hr_log(HR_LOG_ERROR, "engine", "out of memory: cancel of %llu lost",
                   (unsigned long long)id);
            return;
        }
        e->cancels = c;
        e->cap_cancels = cap;
    }
    e->cancels[e->n_cancels++] = id;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void hr_engine_get_stats(const hr_engine *e, hr_engine_stats *st)
{
    hr_engine *me = (hr_engine *)e; /* the lock does not change what e is */
    pthread_mutex_lock(&me->mu);
    st->queue_depth = me->n_in;
    pthread_mutex_unlock(&me->mu);
    st->slots_busy = atomic_load(&me->busy);
    st->steps = atomic_load(&me->steps);
}
