/* SPDX-License-Identifier: MIT */
/* loadgen.c -- closed-loop load generator for OpenAI-compatible streaming servers */

/*
 * hearth is measured against llama.cpp's llama-server, so both must be driven by
 * the same client, one that is neutral about the server and costs so little CPU
 * that the numbers belong to the server, not to us. All N clients share one
 * thread and one libcurl multi handle; each sends its requests back to back
 * (a closed loop), and the SSE stream is parsed as bytes arrive so that a
 * token's timestamp is when it reached us, not when the response ended. It
 * talks only to the URL it is given, never retries, and never blocks anywhere
 * but in curl_multi_poll.
 */

#include <curl/curl.h>
#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A runaway line (no newline for 16 MiB) is a broken server, not a reason to
 * eat the machine's memory. */
#define MAX_LINE_BYTES (16u << 20)
#define MAX_CLIENTS 4096
#define MAX_FAIL_REPORTS 5

static const char usage_text[] =
    "usage: hearth-loadgen --url http://HOST:PORT --clients N --requests R --max-tokens T\n"
    "                      [--prompt TEXT] [--endpoint /v1/completions|/v1/chat/completions]\n"
    "                      [--model NAME] [--label LABEL] [--timeout-s S]\n"
    "Each of N clients sends R streaming requests back to back; prints one JSON summary.\n"
    "Exit status: 0 all requests succeeded, 1 some failed, 2 bad arguments.\n";

typedef struct {
    const char *url;
    const char *prompt;
    const char *endpoint;
    const char *model;
    const char *label;
    long clients;
    long requests;
    long max_tokens;
    double timeout_s;
    int chat;
} opts;

typedef struct {
    double *v;
    size_t n, cap;
} samples;

typedef struct {
    char *p;
    size_t len, cap;
} dbuf;

typedef struct {
    CURL *easy;
    const opts *o;
    long sent;          /* requests started by this client so far */
    double t_start, t_last;
    long n_events;      /* token events in the current request */
    long usage_tokens;  /* -1 until a usage object names completion_tokens */
    int got_done;
    int stream_error;   /* the server put an error object into the stream */
    int broken;         /* out of memory or an oversized line: transfer aborted */
    int have_data;      /* the pending SSE event has at least one data line */
    double ttft;
    dbuf line, event;
    samples itl;        /* this request's gaps, kept only if it succeeds */
    char errbuf[CURL_ERROR_SIZE];
} client;

typedef struct {
    const opts *o;
    samples ttft, itl, lat;
    long long tokens_total;
    long n_failed;
    int n_reported;
    double t_first_start, t_last_end;
    int started;
} run_state;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int samples_push(samples *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *v = realloc(s->v, cap * sizeof(*v));

        if (v == NULL) {
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

static int samples_extend(samples *dst, const samples *src)
{
    for (size_t i = 0; i < src->n; i++) {
        if (samples_push(dst, src->v[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

static int dbuf_append(dbuf *b, const char *p, size_t n)
{
    if (n > MAX_LINE_BYTES - b->len) {
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        char *q;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        q = realloc(b->p, cap);
        if (q == NULL) {
            return -1;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* ---- command line ---------------------------------------------------------- */

static int bad_arg(const char *opt, const char *what, const char *got)
{
    fprintf(stderr, "hearth-loadgen: %s: %s, got '%s' (see --help)\n", opt, what, got);
    return -1;
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        char what[64];

        snprintf(what, sizeof(what), "expected an integer in %ld..%ld", lo, hi);
        return bad_arg(opt, what, s);
    }
    *out = v;
    return 0;
}

static int parse_secs(const char *opt, const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || !isfinite(v) || v <= 0 ||
        v > 86400.0) {
        return bad_arg(opt, "expected seconds in (0, 86400]", s);
    }
    *out = v;
    return 0;
}

static int is_utf8(const char *s)
{
    json_t *j = json_string(s);

    json_decref(j);
    return j != NULL;
}

static int check_opts(opts *o)
{
    static const char *const required[] = {"--url", "--clients", "--requests", "--max-tokens"};
    const int have[] = {o->url != NULL, o->clients > 0, o->requests > 0, o->max_tokens > 0};

    for (size_t i = 0; i < sizeof(have) / sizeof(have[0]); i++) {
        if (!have[i]) {
            fprintf(stderr, "hearth-loadgen: %s is required (see --help)\n", required[i]);
            return -1;
        }
    }
    if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
        return bad_arg("--url", "expected http://HOST:PORT", o->url);
    }
    if (strcmp(o->endpoint, "/v1/completions") == 0) {
        o->chat = 0;
    } else if (strcmp(o->endpoint, "/v1/chat/completions") == 0) {
        o->chat = 1;
    } else {
        return bad_arg("--endpoint", "expected /v1/completions or /v1/chat/completions",
                       o->endpoint);
    }
    /* json_pack would fail later with nothing better to say than "out of memory". */
    if (!is_utf8(o->prompt) || !is_utf8(o->model) || (o->label && !is_utf8(o->label))) {
        fprintf(stderr, "hearth-loadgen: --prompt, --model and --label must be UTF-8\n");
        return -1;
    }
    if (o->label == NULL) {
        o->label = o->url;
    }
    return 0;
}

/* Returns the string slot an option fills, or NULL for a numeric option. */
static const char **string_slot(opts *o, const char *name)
{
    static const char *const names[] = {"--url", "--prompt", "--endpoint", "--model", "--label"};
    const char **slots[] = {&o->url, &o->prompt, &o->endpoint, &o->model, &o->label};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            return slots[i];
        }
    }
    return NULL;
}

static int set_numeric(opts *o, const char *name, const char *val)
{
    if (strcmp(name, "--clients") == 0) {
        return parse_long(name, val, 1, MAX_CLIENTS, &o->clients);
    }
    if (strcmp(name, "--requests") == 0) {
        return parse_long(name, val, 1, 100000000L, &o->requests);
    }
    if (strcmp(name, "--max-tokens") == 0) {
        return parse_long(name, val, 1, 10000000L, &o->max_tokens);
    }
    if (strcmp(name, "--timeout-s") == 0) {
        return parse_secs(name, val, &o->timeout_s);
    }
    fprintf(stderr, "hearth-loadgen: unknown option '%s' (see --help)\n", name);
    return -1;
}

/* Returns 0 to run, 1 when --help was printed, -1 on bad input. Options given
 * twice are rejected: a script that says --clients twice has a bug. */
static int parse_args(int argc, char **argv, opts *o)
{
    unsigned seen = 0;
    static const char *const names[] = {"--url",      "--clients", "--requests",
                                        "--max-tokens", "--prompt", "--endpoint",
                                        "--model",    "--label",   "--timeout-s"};

    for (int i = 1; i < argc; i += 2) {
        const char *name = argv[i];
        const char **slot;
        size_t k;

        if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
            fputs(usage_text, stdout);
            return 1;
        }
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            if (strcmp(name, names[k]) == 0) {
                break;
            }
        }
        if (k == sizeof(names) / sizeof(names[0])) {
            fprintf(stderr, "hearth-loadgen: unknown option '%s' (see --help)\n", name);
            return -1;
        }
        if (seen & (1u << k)) {
            fprintf(stderr, "hearth-loadgen: %s given twice\n", name);
            return -1;
        }
        seen |= 1u << k;
        if (i + 1 >= argc) {
            fprintf(stderr, "hearth-loadgen: %s needs a value (see --help)\n", name);
            return -1;
        }
        slot = string_slot(o, name);
        if (slot != NULL) {
            *slot = argv[i + 1];
        } else if (set_numeric(o, name, argv[i + 1]) != 0) {
            return -1;
        }
    }
    return check_opts(o);
}

/* ---- SSE stream -------------------------------------------------------------- */

static const char *token_text(const client *c, json_t *root)
{
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *text;

    if (c->o->chat) {
        text = json_object_get(json_object_get(choice, "delta"), "content");
    } else {
        text = json_object_get(choice, "text");
    }
    if (!json_is_string(text) || json_string_length(text) == 0) {
        return NULL;
    }
    return json_string_value(text);
}

static void on_event(client *c, const char *data, size_t len, double now)
{
    json_t *root, *usage, *ct;

    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        c->got_done = 1;
        return;
    }
    /* Events that are not JSON objects carry nothing we measure. */
    root = json_loadb(data, len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    if (json_object_get(root, "error") != NULL) {
        c->stream_error = 1;
    }
    usage = json_object_get(root, "usage");
    ct = json_object_get(usage, "completion_tokens");
    if (json_is_integer(ct) && json_integer_value(ct) >= 0) {
        c->usage_tokens = (long)json_integer_value(ct);
    }
    if (token_text(c, root) != NULL) {
        if (c->n_events == 0) {
            c->ttft = now - c->t_start;
        } else if (samples_push(&c->itl, now - c->t_last) != 0) {
            c->broken = 1;
        }
        c->t_last = now;
        c->n_events++;
    }
    json_decref(root);
}

/* One SSE line without its '\n'. Multi-line data fields are joined with '\n'
 * as the SSE spec says, although OpenAI-style servers send one per event. */
static void on_line(client *c, const char *s, size_t len, double now)
{
    if (len > 0 && s[len - 1] == '\r') {
        len--;
    }
    if (len == 0) {
        if (c->have_data) {
            on_event(c, c->event.p, c->event.len, now);
        }
        c->event.len = 0;
        c->have_data = 0;
        return;
    }
    if (len < 5 || memcmp(s, "data:", 5) != 0) {
        return; /* comments, event:, id:, retry: and non-SSE error bodies */
    }
    s += 5;
    len -= 5;
    if (len > 0 && s[0] == ' ') {
        s++;
        len--;
    }
    if ((c->have_data && dbuf_append(&c->event, "\n", 1) != 0) ||
        dbuf_append(&c->event, s, len) != 0) {
        c->broken = 1;
        return;
    }
    c->have_data = 1;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    client *c = ud;
    size_t n = size * nmemb;
    const char *p = ptr, *end = ptr + n;
    double now = now_s();

    while (p < end && !c->broken) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));

        if (nl == NULL) {
            if (dbuf_append(&c->line, p, (size_t)(end - p)) != 0) {
                c->broken = 1;
            }
            break;
        }
        /* Whole lines go straight from curl's buffer; only split ones are copied. */
        if (c->line.len == 0) {
            on_line(c, p, (size_t)(nl - p), now);
        } else if (dbuf_append(&c->line, p, (size_t)(nl - p)) == 0) {
            on_line(c, c->line.p, c->line.len, now);
            c->line.len = 0;
        } else {
            c->broken = 1;
        }
        p = nl + 1;
    }
    return c->broken ? 0 : n; /* 0 makes curl abort with CURLE_WRITE_ERROR */
}

/* ---- requests ------------------------------------------------------------------ */

static char *build_body(const opts *o)
{
    json_t *req;
    char *body;

    if (o->chat) {
        req = json_pack("{s:s, s:[{s:s, s:s}], s:b, s:i, s:I, s:b}", "model", o->model,
                        "messages", "role", "user", "content", o->prompt, "stream", 1,
                        "temperature", 0, "max_tokens", (json_int_t)o->max_tokens,
                        "ignore_eos", 1);
    } else {
        req = json_pack("{s:s, s:s, s:b, s:i, s:I, s:b}", "model", o->model, "prompt",
                        o->prompt, "stream", 1, "temperature", 0, "max_tokens",
                        (json_int_t)o->max_tokens, "ignore_eos", 1);
    }
    if (req == NULL) {
        return NULL;
    }
    body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return body;
}

static int client_init(client *c, const opts *o, const char *url, const char *body,
                       struct curl_slist *headers)
{
    CURLcode rc = CURLE_OK;

    c->o = o;
    c->easy = curl_easy_init();
    if (c->easy == NULL) {
        return -1;
    }
    /* The proxy is emptied so that an http_proxy in the environment cannot
     * put a third process between us and the server being measured. */
    rc |= curl_easy_setopt(c->easy, CURLOPT_URL, url);
    rc |= curl_easy_setopt(c->easy, CURLOPT_PROXY, "");
    rc |= curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
    rc |= curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
    rc |= curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    rc |= curl_easy_setopt(c->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    rc |= curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    rc |= curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    rc |= curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    rc |= curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)(o->timeout_s * 1000.0));
    return rc == CURLE_OK ? 0 : -1;
}

static int start_request(run_state *rs, CURLM *multi, client *c)
{
    c->n_events = 0;
    c->usage_tokens = -1;
    c->got_done = 0;
    c->stream_error = 0;
    c->broken = 0;
    c->have_data = 0;
    c->ttft = 0;
    c->line.len = 0;
    c->event.len = 0;
    c->itl.n = 0;
    c->errbuf[0] = '\0';
    c->t_start = now_s();
    if (!rs->started) {
        rs->started = 1;
        rs->t_first_start = c->t_start;
    }
    c->sent++;
    return curl_multi_add_handle(multi, c->easy) == CURLM_OK ? 0 : -1;
}

static void report_failure(run_state *rs, const client *c, CURLcode res, long status)
{
    /* A dead server fails every request; a few lines say why, the count says how many. */
    if (rs->n_reported++ >= MAX_FAIL_REPORTS) {
        if (rs->n_reported == MAX_FAIL_REPORTS + 1) {
            fprintf(stderr, "hearth-loadgen: (further failures not shown)\n");
        }
        return;
    }
    if (c->broken) {
        fprintf(stderr, "hearth-loadgen: request failed: out of memory or a line over %u bytes\n",
                MAX_LINE_BYTES);
    } else if (res != CURLE_OK) {
        fprintf(stderr, "hearth-loadgen: request failed: %s\n",
                c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
    } else if (status != 200) {
        fprintf(stderr, "hearth-loadgen: request failed: HTTP status %ld\n", status);
    } else if (c->stream_error) {
        fprintf(stderr, "hearth-loadgen: request failed: error object in the stream\n");
    } else {
        fprintf(stderr, "hearth-loadgen: request failed: stream ended without [DONE]\n");
    }
}

/* Returns -1 only when we ran out of memory; a failed request is counted. */
static int finish_request(run_state *rs, client *c, CURLcode res)
{
    double end = now_s();
    long status = 0;
    long tokens;

    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    /* A last line or event without its terminator still counts: lenient about
     * framing, strict about [DONE]. */
    if (c->line.len > 0 && !c->broken) {
        on_line(c, c->line.p, c->line.len, end);
    }
    on_line(c, "", 0, end);
    if (end > rs->t_last_end) {
        rs->t_last_end = end;
    }
    if (res != CURLE_OK || status != 200 || !c->got_done || c->stream_error || c->broken) {
        rs->n_failed++;
        report_failure(rs, c, res, status);
        return 0;
    }
    tokens = c->usage_tokens >= 0 ? c->usage_tokens : c->n_events;
    rs->tokens_total += tokens;
    if (samples_push(&rs->lat, end - c->t_start) != 0 ||
        (c->n_events > 0 && samples_push(&rs->ttft, c->ttft) != 0) ||
        samples_extend(&rs->itl, &c->itl) != 0) {
        fprintf(stderr, "hearth-loadgen: out of memory\n");
        return -1;
    }
    return 0;
}

static int drain_done(run_state *rs, CURLM *multi, long *in_flight)
{
    for (;;) {
        int queued;
        CURLMsg *m = curl_multi_info_read(multi, &queued);
        char *priv = NULL;
        client *c;
        CURLcode res;

        if (m == NULL) {
            return 0;
        }
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        /* m is invalid once its handle is removed, so take what we need first. */
        res = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        c = (client *)(void *)priv;
        curl_multi_remove_handle(multi, c->easy);
        (*in_flight)--;
        if (finish_request(rs, c, res) != 0) {
            return -1;
        }
        if (c->sent < rs->o->requests) {
            if (start_request(rs, multi, c) != 0) {
                return -1;
            }
            (*in_flight)++;
        }
    }
}

static int run_loop(run_state *rs, CURLM *multi, client *cl)
{
    long in_flight = 0;

    for (long i = 0; i < rs->o->clients; i++) {
        if (start_request(rs, multi, &cl[i]) != 0) {
            fprintf(stderr, "hearth-loadgen: cannot start a request\n");
            return -1;
        }
        in_flight++;
    }
    while (in_flight > 0) {
        int running;
        CURLMcode mc = curl_multi_perform(multi, &running);

        if (mc == CURLM_OK && drain_done(rs, multi, &in_flight) != 0) {
            return -1;
        }
        if (mc == CURLM_OK && in_flight > 0) {
            mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
        }
        if (mc != CURLM_OK) {
            fprintf(stderr, "hearth-loadgen: curl multi: %s\n", curl_multi_strerror(mc));
            return -1;
        }
    }
    return 0;
}

/* ---- report -------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p% of samples at or below it. */
static double percentile(const samples *s, double p)
{
    /* p * n first: 99 * 100 / 100 is exactly 99, 0.99 * 100 need not be. */
    size_t rank = (size_t)ceil(p * (double)s->n / 100.0);

    if (rank < 1) {
        rank = 1;
    }
    return s->v[rank - 1];
}

/* Seconds in, milliseconds out; null when nothing was measured, since a 0
 * would read as a real (and excellent) latency. */
static json_t *stats_ms(samples *s)
{
    double sum = 0;

    if (s->n == 0) {
        return json_null();
    }
    qsort(s->v, s->n, sizeof(s->v[0]), cmp_double);
    for (size_t i = 0; i < s->n; i++) {
        sum += s->v[i];
    }
    return json_pack("{s:f, s:f, s:f}", "p50", percentile(s, 50) * 1e3, "p99",
                     percentile(s, 99) * 1e3, "mean", sum / (double)s->n * 1e3);
}

static int print_report(run_state *rs)
{
    const opts *o = rs->o;
    double wall = rs->t_last_end - rs->t_first_start;
    json_t *ttft = stats_ms(&rs->ttft), *itl = stats_ms(&rs->itl), *lat = stats_ms(&rs->lat);
    json_t *out;
    char *text;

    if (ttft == NULL || itl == NULL || lat == NULL) {
        json_decref(ttft);
        json_decref(itl);
        json_decref(lat);
        return -1;
    }
    /* "o" hands our references to the new object, even when json_pack fails. */
    out = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:o, s:o}", "label",
                    o->label, "endpoint", o->endpoint, "clients", (int)o->clients,
                    "max_tokens", (json_int_t)o->max_tokens, "requests_total",
                    (json_int_t)o->clients * o->requests, "requests_failed",
                    (json_int_t)rs->n_failed, "tokens_total", (json_int_t)rs->tokens_total,
                    "wall_s", wall, "agg_tok_s",
                    wall > 0 ? (double)rs->tokens_total / wall : 0.0, "ttft_ms", ttft,
                    "itl_ms", itl, "latency_ms", lat);
    if (out == NULL) {
        return -1;
    }
    text = json_dumps(out, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(out);
    if (text == NULL) {
        return -1;
    }
    puts(text);
    free(text);
    return fflush(stdout) == 0 ? 0 : -1;
}

/* ---- main ------------------------------------------------------------------------ */

static int setup(const opts *o, char **url, char **body, struct curl_slist **headers)
{
    size_t ulen = strlen(o->url), elen = strlen(o->endpoint);
    struct curl_slist *h;

    /* A trailing slash on --url would give "//v1/...", which some routers 404. */
    while (ulen > 0 && o->url[ulen - 1] == '/') {
        ulen--;
    }
    *url = malloc(ulen + elen + 1);
    *body = build_body(o);
    if (*url == NULL || *body == NULL) {
        return -1;
    }
    memcpy(*url, o->url, ulen);
    memcpy(*url + ulen, o->endpoint, elen + 1);
    /* An empty Expect: stops curl waiting up to 1 s for a 100-continue on a
     * long prompt, which would land in TTFT. */
    h = curl_slist_append(NULL, "Content-Type: application/json");
    if (h != NULL) {
        *headers = h;
        h = curl_slist_append(h, "Accept: text/event-stream");
    }
    if (h != NULL) {
        h = curl_slist_append(h, "Expect:");
    }
    return h == NULL ? -1 : 0;
}

static void client_free(client *c)
{
    curl_easy_cleanup(c->easy);
    free(c->line.p);
    free(c->event.p);
    free(c->itl.v);
}

static int run(const opts *o)
{
    run_state rs = {.o = o};
    char *url = NULL, *body = NULL;
    struct curl_slist *headers = NULL;
    CURLM *multi = curl_multi_init();
    client *cl = calloc((size_t)o->clients, sizeof(*cl));
    int rc = -1;

    if (multi == NULL || cl == NULL || setup(o, &url, &body, &headers) != 0) {
        fprintf(stderr, "hearth-loadgen: out of memory\n");
        goto out;
    }
    for (long i = 0; i < o->clients; i++) {
        if (client_init(&cl[i], o, url, body, headers) != 0) {
            fprintf(stderr, "hearth-loadgen: cannot set up a curl handle\n");
            goto out;
        }
    }
    if (run_loop(&rs, multi, cl) != 0 || print_report(&rs) != 0) {
        goto out;
    }
    rc = rs.n_failed > 0 ? 1 : 0;
out:
    for (long i = 0; cl != NULL && i < o->clients; i++) {
        if (cl[i].easy != NULL) {
            curl_multi_remove_handle(multi, cl[i].easy);
        }
        client_free(&cl[i]);
    }
    free(cl);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    free(body);
    free(url);
    free(rs.ttft.v);
    free(rs.itl.v);
    free(rs.lat.v);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.prompt = "Once upon a time",
              .endpoint = "/v1/completions",
              .model = "default",
              .timeout_s = 300.0};
    struct sigaction sa;
    int rc;

    rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc > 0 ? 0 : 2;
    }
    /* With CURLOPT_NOSIGNAL curl leaves SIGPIPE to us, and a server that
     * closes mid-request must count as a failure, not kill the run. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "hearth-loadgen: curl_global_init failed\n");
        return 1;
    }
    rc = run(&o);
    curl_global_cleanup();
    return rc == 0 ? 0 : 1;
}
