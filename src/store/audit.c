/* SPDX-License-Identifier: MIT */
/* audit.c -- the live audit log: hr_audit_log copies a record onto a queue
 * on the caller's thread, and one writer thread per log appends batches of
 * records to the chain, one transaction per batch, and prunes on a timer.
 *
 * hr_audit_log runs on the request path and must never wait for the disk:
 * it builds its copy before taking the mutex, holds the mutex only to link
 * the copy in, and when the queue is full it spills to an overflow list
 * rather than blocking or dropping. After open only the writer thread
 * touches the database. */
#include "store/store.h"
#include "store/store_int.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/str.h"

#define BATCH_MAX 512
#define QUEUE_MAX ((size_t)1 << 24)
#define MAX_TIME_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define MAX_COST_USD 9.0e9            /* what an int64 of nano-USD holds */
#define MAX_RETRY_DELAY_MS 30000
/* Once records are waiting, the writer gathers more for up to LINGER_MS
 * (or until LINGER_BATCH are queued) before it commits: one transaction and
 * one wake-up per record cost a busy gateway ~25 us of CPU per request on
 * the request loop's core, and rows become durable a few ms later either way
 * (hr_audit_flush and close cut the wait short). */
#define LINGER_MS 5
#define LINGER_BATCH 128

/* A record's copy: its column values, pointing into data[]. */
typedef struct item {
    struct item *next;
    hr__audit_val v[HR_AC_N];
    char iso[32];
    char data[];
} item;

struct hr_audit {
    hr__audit_db d; /* the writer thread's, once it runs */
    char *path;
    uint32_t retention_days, prune_period_ms, max_retries, retry_ms;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the writer waits here for records */
    pthread_cond_t idle; /* hr_audit_flush waits here */
    bool sync_ready, thread_started;
    pthread_t thread;
    char last_error[200]; /* writer thread only */

    /* Under mu. The overflow list is non-empty only while the ring is full,
     * and the writer refills the ring from it, so records keep their order. */
    item **ring;
    size_t cap, head, count;
    item *ov_head, *ov_tail;
    size_t ov_count;
    size_t in_flight;      /* taken by the writer and not yet settled */
    uint64_t n_in, n_done; /* records queued and settled, ever */
    bool stop, paused, writer_waiting, lingering;
    uint32_t flushing; /* hr_audit_flush callers waiting: no lingering */
    hr_audit_stats st;
};

static const struct {
    int col;
    size_t off;
} TEXT_FIELDS[] = {
    {HR_AC_REQUEST_ID, offsetof(hr_audit_record, request_id)},
    {HR_AC_KEY_ID, offsetof(hr_audit_record, key_id)},
    {HR_AC_ROUTE, offsetof(hr_audit_record, route)},
    {HR_AC_POLICY, offsetof(hr_audit_record, policy)},
    {HR_AC_LOCAL_MODEL, offsetof(hr_audit_record, local_model)},
    {HR_AC_UPSTREAM, offsetof(hr_audit_record, upstream)},
    {HR_AC_UPSTREAM_MODEL, offsetof(hr_audit_record, upstream_model)},
    {HR_AC_ESCALATION_REASON, offsetof(hr_audit_record, escalation_reason)},
    {HR_AC_DATA_CLASS, offsetof(hr_audit_record, data_class)},
    {HR_AC_PROMPT, offsetof(hr_audit_record, prompt)},
};
#define N_TEXT (sizeof TEXT_FIELDS / sizeof TEXT_FIELDS[0])

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms)
{
    struct timespec ts = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L};
    pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- copying a record ------------------------------------------------------ */

static const char PII_ACTION[] = ":{\"action\":";
static const char PII_COUNT[] = ",\"count\":";

static size_t emit(char *dst, size_t k, const char *s, size_t n)
{
    if (dst) {
        memcpy(dst + k, s, n);
    }
    return k + n;
}

static size_t emit_json(char *dst, size_t k, const char *s)
{
    return k + hr__audit_json_str(dst ? dst + k : NULL, s, strlen(s));
}

/* The PII object {"type":{"action":...,"count":N},...} into dst (NULL to
 * measure); returns its length. */
static size_t pii_json(char *dst, const hr_audit_record *r)
{
    size_t k = emit(dst, 0, "{", 1);
    for (size_t i = 0; i < r->n_pii; i++) {
        const hr_audit_pii *p = &r->pii[i];
        char num[24];
        int nd = snprintf(num, sizeof num, "%lld", (long long)p->count);
        k = i > 0 ? emit(dst, k, ",", 1) : k;
        k = emit_json(dst, k, p->type);
        k = emit(dst, k, PII_ACTION, sizeof PII_ACTION - 1);
        k = p->action ? emit_json(dst, k, p->action) : emit(dst, k, "null", 4);
        k = emit(dst, k, PII_COUNT, sizeof PII_COUNT - 1);
        k = emit(dst, k, num, (size_t)nd);
        k = emit(dst, k, "}", 1);
    }
    return emit(dst, k, "}", 1);
}

static bool pii_valid(const hr_audit_record *r)
{
    for (size_t i = 0; i < r->n_pii; i++) {
        const char *t = r->pii[i].type, *act = r->pii[i].action;
        if (!t || !hr_utf8_valid(t, strlen(t)) || (act && !hr_utf8_valid(act, strlen(act)))) {
            return false;
        }
    }
    return true;
}

static void item_fill(item *it, const hr_audit_record *r, int64_t t, const char **src,
                      const size_t *len, size_t pii_len)
{
    hr__audit_val *v = it->v;
    char *p = it->data;
    memset(v, 0, sizeof it->v);
    pii_json(p, r);
    p[pii_len] = '\0';
    v[HR_AC_PII] = hr__audit_text(p, pii_len);
    p += pii_len + 1;
    for (size_t i = 0; i < N_TEXT; i++) {
        if (src[i]) {
            memcpy(p, src[i], len[i]);
            p[len[i]] = '\0';
            v[TEXT_FIELDS[i].col] = hr__audit_text(p, len[i]);
            p += len[i] + 1;
        }
    }
    v[HR_AC_TIME_MS] = hr__audit_int(t);
    v[HR_AC_KIND] = hr__audit_text("request", 7);
    v[HR_AC_ESCALATED] = hr__audit_int(r->escalated);
    v[HR_AC_HTTP_STATUS] = hr__audit_int(r->http_status);
    v[HR_AC_LOCAL_TOKENS_IN] = hr__audit_int(r->local_tokens_in);
    v[HR_AC_LOCAL_TOKENS_OUT] = hr__audit_int(r->local_tokens_out);
    v[HR_AC_UPSTREAM_TOKENS_IN] = hr__audit_int(r->upstream_tokens_in);
    v[HR_AC_UPSTREAM_TOKENS_OUT] = hr__audit_int(r->upstream_tokens_out);
    v[HR_AC_LATENCY_MS] = hr__audit_int(r->latency_ms);
    v[HR_AC_COST_NUSD] = hr__audit_int((int64_t)llround(r->cost_usd * 1e9));
    v[HR_AC_DEGRADED] = hr__audit_int(r->degraded);
}

/* A copy of r stamped t, its text made valid UTF-8; NULL with *rc set. */
static item *item_new(const hr_audit_record *r, int64_t t, int *rc)
{
    const char *src[N_TEXT];
    size_t len[N_TEXT];
    hr_buf fix[N_TEXT];
    memset(fix, 0, sizeof fix);
    *rc = pii_valid(r) ? 0 : HR_EINVAL;
    size_t pii_len = *rc == 0 ? pii_json(NULL, r) : 0;
    size_t total = sizeof(item) + pii_len + 1;
    for (size_t i = 0; i < N_TEXT && *rc == 0; i++) {
        src[i] = *(const char *const *)((const char *)r + TEXT_FIELDS[i].off);
        len[i] = src[i] ? strlen(src[i]) : 0;
        if (src[i] && !hr_utf8_valid(src[i], len[i])) {
            *rc = hr_utf8_append_sanitized(&fix[i], src[i], len[i]);
            src[i] = fix[i].p ? fix[i].p : "";
            len[i] = fix[i].len;
        }
        total += src[i] ? len[i] + 1 : 0;
    }
    item *it = *rc == 0 ? hr_malloc(total) : NULL;
    if (it) {
        item_fill(it, r, t, src, len, pii_len);
    } else if (*rc == 0) {
        *rc = HR_ENOMEM;
    }
    for (size_t i = 0; i < N_TEXT; i++) {
        hr_buf_deinit(&fix[i]);
    }
    return it;
}

int hr_audit_log(hr_audit *a, const hr_audit_record *r)
{
    if (!a || !r || r->n_pii > HR_AUDIT_MAX_PII || (r->n_pii && !r->pii)) {
        return HR_EINVAL;
    }
    int64_t t = r->time_ms ? r->time_ms : hr__audit_now_ms();
    if (t < 0 || t > MAX_TIME_MS || !isfinite(r->cost_usd) || fabs(r->cost_usd) > MAX_COST_USD) {
        return HR_EINVAL;
    }
    int rc = 0;
    item *it = item_new(r, t, &rc);
    pthread_mutex_lock(&a->mu);
    if (!it) {
        a->st.dropped += rc == HR_ENOMEM;
        pthread_mutex_unlock(&a->mu);
        return rc;
    }
    it->next = NULL;
    if (a->count < a->cap) {
        a->ring[(a->head + a->count) % a->cap] = it;
        a->count++;
    } else {
        if (a->ov_tail) {
            a->ov_tail->next = it;
        } else {
            a->ov_head = it;
        }
        a->ov_tail = it;
        a->ov_count++;
        a->st.deferred++;
    }
    a->n_in++;
    bool enough = a->count >= LINGER_BATCH || a->count == a->cap;
    bool wake = !a->paused && (a->writer_waiting || (a->lingering && enough));
    pthread_mutex_unlock(&a->mu);
    if (wake) {
        pthread_cond_signal(&a->wake); /* after unlock: the writer does not wake into a held mutex */
    }
    return 0;
}

/* ---- the writer thread ---------------------------------------------------------- */

static void free_items(item *it)
{
    while (it) {
        item *next = it->next;
        hr_free(it);
        it = next;
    }
}

/* Move overflow records into the ring while it has room. Under mu. */
static void refill(hr_audit *a)
{
    while (a->ov_head && a->count < a->cap) {
        item *it = a->ov_head;
        a->ov_head = it->next;
        a->ov_tail = a->ov_head ? a->ov_tail : NULL;
        a->ov_count--;
        a->ring[(a->head + a->count) % a->cap] = it;
        a->count++;
    }
}

/* Up to BATCH_MAX records, oldest first. Under mu. */
static item *take_batch(hr_audit *a, size_t *n)
{
    item *head = NULL, **tail = &head;
    *n = 0;
    while (*n < BATCH_MAX && a->count > 0) {
        item *it = a->ring[a->head];
        a->head = (a->head + 1) % a->cap;
        a->count--;
        *tail = it;
        tail = &it->next;
        (*n)++;
        refill(a);
    }
    *tail = NULL;
    a->in_flight = *n;
    return head;
}

static int write_batch(hr_audit *a, item *batch)
{
    hr__audit_db *d = &a->d;
    int rc = hr__audit_begin(d);
    for (item *it = batch; rc == 0 && it; it = it->next) {
        hr__audit_iso(it->v[HR_AC_TIME_MS].i, it->iso, sizeof it->iso);
        it->v[HR_AC_TIME] = hr__audit_text(it->iso, strlen(it->iso));
        rc = hr__audit_append(d, it->v);
    }
    rc = rc ? rc : hr__audit_commit(d);
    if (rc < 0) {
        snprintf(a->last_error, sizeof a->last_error, "%s",
                 rc == HR_EDB ? sqlite3_errmsg(d->db) : hr_strerror(rc));
        hr__audit_rollback(d);
    }
    return rc;
}

/* Account for a batch written or failed. Returns the batch when it is to be
 * retried, else NULL with the batch moved onto *done. Under mu. */
static item *settle(hr_audit *a, item *batch, size_t n, int rc, uint32_t *tries,
                    int64_t *retry_at, item **done)
{
    if (rc < 0) {
        a->st.failed++;
        (*tries)++;
    }
    if (rc < 0 && *tries <= a->max_retries) {
        uint32_t shift = *tries - 1 < 10 ? *tries - 1 : 10;
        int64_t delay = (int64_t)a->retry_ms << shift;
        delay = delay < MAX_RETRY_DELAY_MS ? delay : MAX_RETRY_DELAY_MS;
        *retry_at = mono_ms() + delay;
        hr_log(HR_LOG_WARN, "audit", "%s: writing %zu rows failed (%s); retry %u of %u in %lld ms",
               a->path, n, a->last_error, *tries, a->max_retries, (long long)delay);
        return batch;
    }
    if (rc < 0) {
        a->st.dropped += n;
        hr_log(HR_LOG_ERROR, "audit", "%s: gave up on %zu rows after %u tries (%s)", a->path, n,
               *tries, a->last_error);
    } else {
        a->st.written += n;
    }
    *tries = 0;
    *done = batch;
    a->in_flight = 0;
    a->n_done += n;
    pthread_cond_broadcast(&a->idle);
    return NULL;
}

static void prune_now(hr_audit *a)
{
    char err[256];
    int64_t n = 0;
    int64_t cutoff = hr__audit_now_ms() - (int64_t)a->retention_days * 86400000;
    int rc = hr__audit_prune_db(&a->d, cutoff, &n, err, sizeof err);
    if (rc < 0) {
        hr_log(HR_LOG_WARN, "audit", "%s", err);
    } else if (n > 0) {
        hr_log(HR_LOG_INFO, "audit", "%s: pruned %lld rows older than %u days", a->path,
               (long long)n, a->retention_days);
    }
    if (a->sync_ready) {
        pthread_mutex_lock(&a->mu);
    }
    a->st.failed += rc < 0;
    a->st.pruned += (uint64_t)n;
    if (a->sync_ready) {
        pthread_mutex_unlock(&a->mu);
    }
}

/* Until there are records to take, the writer is told to stop, or pruning
 * is due. Under mu. */
static void wait_for_work(hr_audit *a, int64_t next_prune)
{
    while (!a->stop && (a->paused || a->count == 0)) {
        if (a->retention_days && mono_ms() >= next_prune) {
            return;
        }
        a->writer_waiting = true;
        if (a->retention_days) {
            timed_wait(&a->wake, &a->mu, next_prune);
        } else {
            pthread_cond_wait(&a->wake, &a->mu);
        }
        a->writer_waiting = false;
    }
    int64_t until = mono_ms() + LINGER_MS;
    while (!a->stop && !a->paused && !a->flushing && a->count > 0 && a->count < LINGER_BATCH &&
           a->count < a->cap && mono_ms() < until) {
        a->lingering = true;
        timed_wait(&a->wake, &a->mu, until);
        a->lingering = false;
    }
}

static void *writer_main(void *arg)
{
    hr_audit *a = arg;
    item *batch = NULL, *done = NULL;
    size_t n = 0;
    uint32_t tries = 0;
    int64_t next_prune = mono_ms() + a->prune_period_ms, retry_at = 0;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        if (batch) {
            while (mono_ms() < retry_at) {
                timed_wait(&a->wake, &a->mu, retry_at);
            }
        } else {
            wait_for_work(a, next_prune);
            if (a->stop && a->count == 0) {
                break;
            }
            batch = a->paused ? NULL : take_batch(a, &n);
        }
        pthread_mutex_unlock(&a->mu);
        free_items(done);
        done = NULL;
        int rc = batch ? write_batch(a, batch) : 0;
        if (a->retention_days && mono_ms() >= next_prune) {
            prune_now(a);
            next_prune = mono_ms() + a->prune_period_ms;
        }
        pthread_mutex_lock(&a->mu);
        if (batch) {
            batch = settle(a, batch, n, rc, &tries, &retry_at, &done);
        }
    }
    pthread_mutex_unlock(&a->mu);
    free_items(done);
    return NULL;
}

/* ---- open and close ---------------------------------------------------------------- */

static int start_writer(hr_audit *a, char *err, size_t errlen)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    rc = rc ? rc : pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = rc ? rc : pthread_mutex_init(&a->mu, NULL);
    if (rc == 0 && pthread_cond_init(&a->wake, &ca) != 0) {
        pthread_mutex_destroy(&a->mu);
        rc = HR_ENOMEM;
    }
    if (rc == 0 && pthread_cond_init(&a->idle, &ca) != 0) {
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->mu);
        rc = HR_ENOMEM;
    }
    pthread_condattr_destroy(&ca);
    a->sync_ready = rc == 0;
    rc = rc ? rc : pthread_create(&a->thread, NULL, writer_main, a);
    a->thread_started = rc == 0;
    if (rc != 0) {
        rc = rc > 0 ? -rc : rc;
        return hr_errf(err, errlen, rc, "audit: cannot start the writer: %s", hr_strerror(rc));
    }
    return 0;
}

static void destroy(hr_audit *a)
{
    if (a->sync_ready) {
        pthread_cond_destroy(&a->idle);
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->mu);
    }
    for (size_t i = 0; a->ring && i < a->count; i++) {
        hr_free(a->ring[(a->head + i) % a->cap]);
    }
    free_items(a->ov_head);
    hr__audit_db_close(&a->d);
    hr_free(a->ring);
    hr_free(a->path);
    hr_free(a);
}

static void apply_opts(hr_audit *a, const hr_audit_opts *o)
{
    a->cap = o->queue_capacity ? o->queue_capacity : 4096;
    a->retention_days = o->retention_days;
    a->prune_period_ms = o->prune_period_ms ? o->prune_period_ms : 3600000;
    a->max_retries = o->max_retries ? o->max_retries : 5;
    a->retry_ms = o->retry_ms ? o->retry_ms : 100;
    a->paused = o->start_paused;
}

int hr_audit_open(hr_audit **out, const hr_audit_opts *o, char *err, size_t errlen)
{
    if (out) {
        *out = NULL;
    }
    if (!out || !o || !o->path || !*o->path || o->queue_capacity > QUEUE_MAX) {
        return hr_errf(err, errlen, HR_EINVAL, "audit: bad options (path, queue capacity)");
    }
    hr_audit *a = hr_calloc(1, sizeof *a);
    if (!a) {
        return hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    apply_opts(a, o);
    a->path = hr_strdup(o->path);
    a->ring = a->path ? hr_calloc(a->cap, sizeof *a->ring) : NULL;
    int rc = a->ring ? 0 : hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    rc = rc ? rc : hr__audit_db_open(&a->d, a->path, HR_AUDIT_OPEN_CREATE,
                                     o->busy_timeout_ms ? o->busy_timeout_ms : 5000, err, errlen);
    rc = rc ? rc : hr__audit_key_load(&a->d, o->key_env, true, err, errlen);
    if (rc == 0 && a->retention_days) {
        prune_now(a);
    }
    rc = rc ? rc : start_writer(a, err, errlen);
    if (rc < 0) {
        destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

void hr_audit_close(hr_audit *a)
{
    if (!a) {
        return;
    }
    if (a->thread_started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        a->paused = false;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    destroy(a);
}

int hr_audit_flush(hr_audit *a)
{
    int rc = 0;
    pthread_mutex_lock(&a->mu);
    uint64_t target = a->n_in;
    a->flushing++;
    pthread_cond_signal(&a->wake);
    while (a->n_done < target) {
        if (a->paused) {
            rc = HR_EAGAIN;
            break;
        }
        pthread_cond_wait(&a->idle, &a->mu);
    }
    a->flushing--;
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void hr_audit_pause(hr_audit *a, bool paused)
{
    pthread_mutex_lock(&a->mu);
    a->paused = paused;
    pthread_cond_signal(&a->wake);
    pthread_cond_broadcast(&a->idle);
    pthread_mutex_unlock(&a->mu);
}

void hr_audit_stats_get(hr_audit *a, hr_audit_stats *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->st;
    out->queue_depth = a->count + a->ov_count + a->in_flight;
    pthread_mutex_unlock(&a->mu);
}
