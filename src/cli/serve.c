/* SPDX-License-Identifier: MIT */
/* serve.c -- `hearth serve [MODEL]`: the OpenAI-compatible server.
 *
 * It listens first and loads the model on a helper thread, so /health says
 * 503 while a large model loads and 200 once it is ready; the loader hands
 * the result back through a pipe the loop watches. SIGINT/SIGTERM start a
 * graceful shutdown (a second one ends the grace period at once). The main
 * thread runs the libevent loop; the engine runs its own thread. */
#include "cli/cli.h"

#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/config.h"
#include "engine/engine.h"
#include "http/http.h"
#include "privacy/privacy.h"
#include "router/router.h"
#include "store/store.h"
#include "upstream/upstream.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_KEYS 64

typedef struct serve_opts {
    const char *host, *model_id, *key_file, *config, *calibration, *audit_db;
    hr_config cfg;
    const char *keys[MAX_KEYS + 1];
    size_t n_keys;
    int64_t port, parallel, ctx_size, threads, batch, queue, max_body, grace_ms, read_timeout_ms;
    bool llama_log, verbose;
} serve_opts;

typedef struct serve_ctx {
    const serve_opts *o;
    const char *model_path;
    struct event_base *base;
    hr_http *http;
    hr_model *model;
    hr_engine *engine;
    int pipe_fd[2];
    int load_rc;
    char err[512];
    int status;
    struct event *load_ev;
    hr_router *router;
    hr_upstreams *ups;
    hr_audit *audit;
    hr_privacy *privacy;
    pthread_t loader;
    bool loader_started;
} serve_ctx;

static void on_progress(float f, void *ud)
{
    int *last = ud;
    int pct = (int)(f * 100.0f);
    if (pct / 10 != *last / 10) {
        *last = pct;
        hr_log(HR_LOG_INFO, "serve", "loading model: %d%%", pct);
    }
}

/* Loader thread: load the model, then wake the loop. */
static void *load_main(void *arg)
{
    serve_ctx *c = arg;
    int last = -10;
    hr_model_opts mo = {.progress = on_progress, .progress_ud = &last};
    c->load_rc = hr_model_load(&c->model, c->model_path, &mo, c->err, sizeof c->err);
    char one = 1;
    ssize_t w = write(c->pipe_fd[1], &one, 1);
    (void)w;
    return NULL;
}

/* Loop thread: the model is loaded (or not); start the engine. */
static void on_loaded(evutil_socket_t fd, short what, void *arg)
{
    serve_ctx *c = arg;
    char b;
    ssize_t r = read(fd, &b, 1);
    (void)r;
    const serve_opts *o = c->o;
    if (c->load_rc == 0) {
        hr_engine_opts eo = {.n_slots = (uint32_t)o->parallel,
                             .n_ctx = (uint32_t)o->ctx_size,
                             .n_threads = (int32_t)o->threads,
                             .n_batch = (uint32_t)o->batch,
                             .max_queue = (uint32_t)o->queue};
        c->load_rc = hr_engine_open(&c->engine, c->model, &eo, c->err, sizeof c->err);
    }
    if (c->load_rc == 0 && hr_http_set_model(c->http, c->model, c->engine) < 0) {
        c->load_rc = hr_errf(c->err, sizeof c->err, HR_ENOMEM, "out of memory");
    }
    if (c->load_rc < 0) {
        fprintf(stderr, "hearth serve: %s\n", c->err);
        c->status = HR_CLI_FAIL;
        event_base_loopexit(c->base, NULL);
        return;
    }
    hr_model_info in;
    hr_model_get_info(c->model, &in);
    hr_log(HR_LOG_INFO, "serve", "model ready: %s, %s, %.1f MiB, %u slots x %u tokens", in.arch,
           in.quant, in.size_bytes / 1048576.0, hr_engine_n_slots(c->engine),
           hr_engine_n_ctx_slot(c->engine));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    serve_ctx *c = arg;
    hr_log(HR_LOG_INFO, "serve", "signal %d: shutting down", (int)sig);
    hr_http_shutdown(c->http, (uint32_t)c->o->grace_ms);
}

/* Keys from a file, one per line; blank lines and '#' comments skipped. The
 * strings live in buf until the server stops. */
static int read_key_file(serve_opts *o, hr_buf *buf)
{
    FILE *f = fopen(o->key_file, "r");
    if (!f) {
        fprintf(stderr, "hearth serve: cannot read --api-key-file %s\n", o->key_file);
        return HR_CLI_USAGE;
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && line[0] != '#' && hr_buf_append(buf, line, strlen(line) + 1) < 0) {
            fclose(f);
            return HR_CLI_FAIL;
        }
    }
    fclose(f);
    for (size_t off = 0; off < buf->len && o->n_keys < MAX_KEYS; off += strlen(buf->p + off) + 1) {
        o->keys[o->n_keys++] = buf->p + off;
    }
    return HR_CLI_OK;
}

/* The audit log: --audit-db, else $HEARTH_AUDIT_DB, else audit.path, else
 * hearth-audit.db in the working directory; "off" turns it off. */
static int open_audit(serve_ctx *c)
{
    const serve_opts *o = c->o;
    const char *env = getenv("HEARTH_AUDIT_DB");
    const char *path = o->audit_db ? o->audit_db : env && *env ? env
                       : o->cfg.audit.path ? o->cfg.audit.path : "hearth-audit.db";
    if (strcmp(path, "off") == 0) {
        return HR_CLI_OK;
    }
    hr_audit_opts ao = {.path = path,
                        .queue_capacity = o->cfg.audit.queue > 0 ? (size_t)o->cfg.audit.queue : 0,
                        .retention_days = o->cfg.audit.retention_days > 0
                                              ? (uint32_t)o->cfg.audit.retention_days : 0,
                        .key_env = o->cfg.audit.key_env};
    if (hr_audit_open(&c->audit, &ao, c->err, sizeof c->err) < 0) {
        fprintf(stderr, "hearth serve: audit log: %s\n", c->err);
        return HR_CLI_FAIL;
    }
    hr_http_set_audit(c->http, c->audit, o->cfg.audit.log_prompts == 1);
    hr_log(HR_LOG_INFO, "serve", "audit log: %s", path);
    return HR_CLI_OK;
}

/* The privacy policies (built-in default without a privacy section); every
 * route's policy must exist. */
static int open_privacy(serve_ctx *c)
{
    const hr_config *cfg = &c->o->cfg;
    if (hr_privacy_new(&c->privacy, cfg->privacy, c->err, sizeof c->err) < 0) {
        fprintf(stderr, "hearth serve: %s\n", c->err);
        return HR_CLI_FAIL;
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const char *name = cfg->routes[i].privacy;
        if (name && hr_privacy_policy_find(c->privacy, name) < 0) {
            fprintf(stderr, "hearth serve: routes.%s.privacy: no privacy policy '%s'\n",
                    cfg->routes[i].name, name);
            return HR_CLI_FAIL;
        }
    }
    hr_http_set_privacy(c->http, c->privacy);
    return HR_CLI_OK;
}

static int start(serve_ctx *c)
{
    const serve_opts *o = c->o;
    if (hr__cli_routing_open(&o->cfg, o->calibration, c->base, &c->router, &c->ups, c->err,
                             sizeof c->err) < 0) {
        fprintf(stderr, "hearth serve: %s\n", c->err);
        return HR_CLI_FAIL;
    }
    hr_http_opts ho = {.host = o->host,
                       .port = (uint16_t)o->port,
                       .model_id = o->model_id,
                       .api_keys = o->n_keys ? o->keys : NULL,
                       .max_body_bytes = (size_t)o->max_body,
                       .header_timeout_ms = (uint32_t)o->read_timeout_ms,
                       .body_timeout_ms = (uint32_t)o->read_timeout_ms};
    if (hr_http_open(&c->http, c->base, &ho, c->err, sizeof c->err) < 0) {
        fprintf(stderr, "hearth serve: %s\n", c->err);
        return HR_CLI_FAIL;
    }
    hr_http_set_routing(c->http, c->router, c->ups);
    if (open_privacy(c) != HR_CLI_OK || open_audit(c) != HR_CLI_OK) {
        return HR_CLI_FAIL;
    }
    uint16_t port = hr_http_port(c->http);
    const char *host = o->host;
    printf("hearth serve: listening on http://%s%s%s:%u\n", strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", port);
    printf("  try: curl http://%s:%u/v1/chat/completions -H 'Content-Type: application/json' "
           "-d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n",
           strchr(host, ':') ? "[::1]" : host, port);
    fflush(stdout);
    if (pipe(c->pipe_fd) < 0) {
        return HR_CLI_FAIL;
    }
    c->load_ev = event_new(c->base, c->pipe_fd[0], EV_READ, on_loaded, c);
    if (!c->load_ev || event_add(c->load_ev, NULL) < 0 ||
        pthread_create(&c->loader, NULL, load_main, c) != 0) {
        return HR_CLI_FAIL;
    }
    c->loader_started = true;
    return HR_CLI_OK;
}

static int serve_main(serve_opts *o, const char *model_path)
{
    serve_ctx c = {.o = o, .model_path = model_path, .pipe_fd = {-1, -1}};
    hr_engine_init(o->llama_log);
    if (o->verbose && hr_log_get_level() > HR_LOG_INFO) {
        hr_log_set_level(HR_LOG_INFO);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    c.base = event_base_new();
    struct event *sigint = c.base ? evsignal_new(c.base, SIGINT, on_signal, &c) : NULL;
    struct event *sigterm = c.base ? evsignal_new(c.base, SIGTERM, on_signal, &c) : NULL;
    int status = sigint && sigterm ? HR_CLI_OK : HR_CLI_FAIL;
    if (status == HR_CLI_OK) {
        evsignal_add(sigint, NULL);
        evsignal_add(sigterm, NULL);
        status = start(&c);
    }
    if (status == HR_CLI_OK) {
        event_base_dispatch(c.base);
        status = c.status;
    }
    if (c.loader_started) {
        pthread_join(c.loader, NULL); /* a stop during loading waits for it */
    }
    hr_http_close(c.http);
    hr_audit_close(c.audit); /* after the server: its last rows are written first */
    hr_privacy_free(c.privacy);
    hr_upstreams_free(c.ups);
    hr_router_free(c.router);
    hr_engine_close(c.engine);
    hr_model_free(c.model);
    if (c.load_ev) {
        event_free(c.load_ev);
    }
    for (int i = 0; i < 2; i++) {
        if (c.pipe_fd[i] >= 0) {
            close(c.pipe_fd[i]);
        }
    }
    if (sigint) {
        event_free(sigint);
    }
    if (sigterm) {
        event_free(sigterm);
    }
    if (c.base) {
        event_base_free(c.base);
    }
    return status;
}

/* One integer setting: flag, else $env, else the file's, else the default. */
static int64_t pick(int64_t flag, const char *env, int64_t file, int64_t dflt, bool *bad)
{
    const char *e = getenv(env);
    int64_t v;
    if (flag >= 0) {
        return flag;
    }
    if (e && *e) {
        if (hr_parse_i64(e, 0, 1 << 30, &v) == 0) {
            return v;
        }
        fprintf(stderr, "hearth serve: %s=%s is not a number\n", env, e);
        *bad = true;
    }
    return file >= 0 ? file : dflt;
}

/* Precedence: flag > environment > config file > default. */
static int apply_settings(serve_opts *o, const char **model)
{
    char err[512];
    const char *cfg = o->config ? o->config : getenv("HEARTH_CONFIG");
    hr_config_init(&o->cfg);
    if (cfg && *cfg && hr_config_load(&o->cfg, cfg, err, sizeof err) < 0) {
        fprintf(stderr, "hearth serve: %s\n", err);
        return HR_CLI_FAIL;
    }
    bool bad = false;
    const char *env_host = getenv("HEARTH_HOST");
    o->host = o->host ? o->host : env_host && *env_host ? env_host
                      : o->cfg.host ? o->cfg.host : "127.0.0.1";
    o->port = pick(o->port, "HEARTH_PORT", o->cfg.port, 8080, &bad);
    o->parallel = pick(o->parallel, "HEARTH_PARALLEL", o->cfg.parallel, 4, &bad);
    o->ctx_size = pick(o->ctx_size, "HEARTH_CTX_SIZE", o->cfg.ctx_size, 0, &bad);
    o->threads = pick(o->threads, "HEARTH_THREADS", o->cfg.threads, 0, &bad);
    o->queue = pick(o->queue, "HEARTH_QUEUE", o->cfg.queue, 64, &bad);
    o->calibration = o->calibration ? o->calibration : o->cfg.calibration;
    const char *env_model = getenv("HEARTH_MODEL");
    *model = *model ? *model : env_model && *env_model ? env_model
                    : o->cfg.model ? o->cfg.model : hr__cli_default_model();
    if (o->port > 65535 || o->parallel < 1 || o->parallel > 256) {
        fprintf(stderr, "hearth serve: port must be 0-65535 and parallel 1-256\n");
        bad = true;
    }
    return bad ? HR_CLI_USAGE : HR_CLI_OK;
}

static const char SERVE_USAGE[] =
    "[MODEL.gguf] [options]\n\n"
    "Serve a GGUF model over the OpenAI API (/v1/chat/completions, /v1/completions,\n"
    "/v1/embeddings, /v1/models) plus /health and /metrics. MODEL defaults to\n"
    "$HEARTH_MODEL or the bundled model. Prints the URL it listens on.";

int hr__cli_serve(int argc, char **argv)
{
    serve_opts o = {.port = -1, .parallel = -1, .ctx_size = -1, .threads = -1, .queue = -1,
                    .max_body = 8 << 20, .grace_ms = 10000};
    const char *model = NULL;
    const hr_opt opts[] = {
        {"model", 'm', HR_OPT_STRING, &model, 0, 0, NULL, "PATH", "the GGUF model to serve"},
        {"host", 0, HR_OPT_STRING, &o.host, 0, 0, NULL, "ADDR", "listen address (default 127.0.0.1)"},
        {"port", 0, HR_OPT_INT, &o.port, 0, 65535, NULL, "N", "listen port, 8080 by default; 0 picks an unused one"},
        {"parallel", 'p', HR_OPT_INT, &o.parallel, 1, 256, NULL, "N", "slots decoded together (default 4)"},
        {"ctx-size", 'c', HR_OPT_INT, &o.ctx_size, 0, 1 << 26, NULL, "N",
         "total context, split among slots (default: parallel x min(model's, 4096))"},
        {"threads", 't', HR_OPT_INT, &o.threads, 1, 1024, NULL, "N", "compute threads (default: all cores)"},
        {"batch-size", 'b', HR_OPT_INT, &o.batch, 1, 1 << 16, NULL, "N", "tokens per decode step (default 512)"},
        {"queue", 0, HR_OPT_INT, &o.queue, 1, 1 << 20, NULL, "N",
         "requests that may wait for a slot before 503 (default 64)"},
        {"api-key", 0, HR_OPT_STRLIST, o.keys, 0, MAX_KEYS, &o.n_keys, "KEY",
         "require 'Authorization: Bearer KEY' (repeatable)"},
        {"api-key-file", 0, HR_OPT_STRING, &o.key_file, 0, 0, NULL, "FILE", "read keys, one per line"},
        {"alias", 'a', HR_OPT_STRING, &o.model_id, 0, 0, NULL, "NAME",
         "the model id clients use (default: the file name)"},
        {"max-body", 0, HR_OPT_INT, &o.max_body, 1024, 1LL << 32, NULL, "BYTES", "request body limit (default 8 MiB)"},
        {"read-timeout-ms", 0, HR_OPT_INT, &o.read_timeout_ms, 1, 3600000, NULL, "MS",
         "time a client may take to send headers, and again its body (default 10000/30000)"},
        {"config", 0, HR_OPT_STRING, &o.config, 0, 0, NULL, "FILE",
         "YAML config: model, server, upstreams, routes (also $HEARTH_CONFIG)"},
        {"calibration", 0, HR_OPT_STRING, &o.calibration, 0, 0, NULL, "FILE",
         "confidence calibration from `hearth calibrate` (overrides the config)"},
        {"audit-db", 0, HR_OPT_STRING, &o.audit_db, 0, 0, NULL, "FILE",
         "audit log database, or 'off' (default $HEARTH_AUDIT_DB, else hearth-audit.db)"},
        {"grace-ms", 0, HR_OPT_INT, &o.grace_ms, 0, 3600000, NULL, "MS",
         "on SIGTERM/SIGINT, time for requests in flight to finish (default 10000)"},
        {"verbose", 'v', HR_OPT_FLAG, &o.verbose, 0, 0, NULL, NULL, "log lifecycle events (HEARTH_LOG=info)"},
        {"llama-log", 0, HR_OPT_FLAG, &o.llama_log, 0, 0, NULL, NULL, "show llama.cpp's own log"},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    const char *pos[1];
    size_t n_pos = 0;
    int rc = hr__cli_parse("serve", SERVE_USAGE, opts, argc, argv, pos, 1, &n_pos);
    if (rc != 0) {
        return rc < 0 ? HR_CLI_OK : rc;
    }
    if (n_pos && model) {
        fprintf(stderr, "hearth serve: give the model once, as MODEL or --model\n");
        return HR_CLI_USAGE;
    }
    if (n_pos) {
        model = pos[0];
    }
    rc = apply_settings(&o, &model);
    hr_buf keybuf = {0};
    if (rc == HR_CLI_OK && o.key_file) {
        rc = read_key_file(&o, &keybuf);
    }
    o.keys[o.n_keys] = NULL;
    if (rc == HR_CLI_OK) {
        rc = serve_main(&o, model);
    }
    hr_buf_deinit(&keybuf);
    hr_config_free(&o.cfg);
    return rc;
}
