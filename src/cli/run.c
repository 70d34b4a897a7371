/* SPDX-License-Identifier: MIT */
/* run.c -- `hearth run [MODEL] [PROMPT]`: one-shot generation or a chat REPL.
 *
 * With a PROMPT it streams one answer to stdout and exits. Without one it
 * reads lines from stdin and keeps the conversation, so each turn only
 * decodes what is new (the session reuses its KV cache prefix). Models with
 * a chat template are chatted with; models without one (base models such as
 * the bundled story model) continue the text, unless --chat or --raw says
 * otherwise. Ctrl-C cancels the answer being generated; at the prompt it
 * only reminds how to leave. Runs on the main thread. */
#include "cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct run_opts {
    int64_t max_tokens, top_k, seed, ctx_size, threads, repeat_last_n, top_logprobs;
    double temperature, top_p, min_p, repeat_penalty, presence, frequency;
    const char *stop[HR_GEN_MAX_STOP];
    size_t n_stop;
    const char *system;
    bool logprobs, chat, raw, verbose, llama_log, ignore_eos;
} run_opts;

#define MAX_TOKENS_UNSET INT64_MIN

typedef struct chat {
    hr_chat_msg *msgs;
    size_t n, cap;
} chat;

typedef struct run_ctx {
    hr_model *model;
    hr_session *sess;
    hr_gen_params gp;
    bool chat_mode;
    bool show_logprobs;
    bool verbose;       /* print timings after each answer */
    bool write_failed;
    double load_ms;     /* how long the model took to load */
    hr_buf answer; /* text of the answer being generated */
} run_ctx;

static hr_session *volatile active_session;
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    hr_session *s = active_session;
    if (s) {
        hr_session_cancel(s);
    }
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: a blocked read returns */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* Print s as a double-quoted, escaped token. */
static void print_token(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c == '\n') {
            fputs("\\n", stdout);
        } else if (c < 0x20 || c == 0x7f) {
            printf("\\x%02x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void print_logprob_line(run_ctx *rc, const hr_gen_event *ev)
{
    hr_buf piece = {0};
    if (ev->piece_len == 0) {
        hr_model_token_piece(rc->model, ev->token, &piece);
    }
    print_token(piece.len ? piece.p : ev->piece, piece.len ? piece.len : ev->piece_len);
    printf("\t%.6f", ev->logprob);
    for (size_t i = 0; i < ev->n_top; i++) {
        hr_buf_reset(&piece);
        hr_model_token_piece(rc->model, ev->top[i].id, &piece);
        fputs(i == 0 ? "\t" : " ", stdout);
        print_token(piece.p ? piece.p : "", piece.len);
        printf("=%.4f", ev->top[i].logprob);
    }
    putchar('\n');
    hr_buf_deinit(&piece);
}

static bool on_token(const hr_gen_event *ev, void *ud)
{
    run_ctx *rc = ud;
    if (hr_buf_append(&rc->answer, ev->text, ev->text_len) < 0) {
        return false;
    }
    if (rc->show_logprobs) {
        print_logprob_line(rc, ev);
    } else if (ev->text_len && fwrite(ev->text, 1, ev->text_len, stdout) != ev->text_len) {
        rc->write_failed = true;
        return false;
    }
    if (fflush(stdout) != 0) {
        rc->write_failed = true;
        return false;
    }
    return true;
}

static double rate(int32_t n, double ms)
{
    return ms > 0 ? n / (ms / 1000.0) : 0.0;
}

/* Timings in the shape `ollama run --verbose` prints them. */
static void print_stats(const run_ctx *rc, const hr_gen_result *r)
{
    int32_t evald = r->n_prompt - r->n_prompt_cached;
    fprintf(stderr,
            "load duration:        %.2fms\n"
            "prompt eval count:    %d token(s) (%d cached)\n"
            "prompt eval duration: %.2fms\n"
            "prompt eval rate:     %.2f tokens/s\n"
            "eval count:           %d token(s)\n"
            "eval duration:        %.2fms\n"
            "eval rate:            %.2f tokens/s\n",
            rc->load_ms, r->n_prompt, r->n_prompt_cached, r->prompt_ms, rate(evald, r->prompt_ms),
            r->n_generated, r->gen_ms, rate(r->n_generated, r->gen_ms));
}

/* Generate one answer to prompt, streaming it. Returns 0 or an HR_E* code. */
static int answer(run_ctx *rc, const char *prompt, size_t len, hr_gen_result *res)
{
    char err[256];
    hr_buf_reset(&rc->answer);
    active_session = rc->sess;
    int e = hr_session_generate(rc->sess, prompt, len, &rc->gp, on_token, rc, res, err,
                                sizeof err);
    active_session = NULL;
    if (e < 0) {
        fprintf(stderr, "hearth run: %s\n", err);
        return e;
    }
    if (!rc->show_logprobs) {
        putchar('\n');
    }
    fflush(stdout);
    if (rc->verbose) {
        print_stats(rc, res);
    }
    return 0;
}

static int chat_push(chat *c, const char *role, const char *content, size_t len)
{
    hr_chat_msg *m = hr_grow(c->msgs, &c->cap, c->n + 1, sizeof *m, 8);
    if (!m) {
        return HR_ENOMEM;
    }
    c->msgs = m;
    char *copy = hr_strndup(content, len);
    if (!copy) {
        return HR_ENOMEM;
    }
    c->msgs[c->n].role = role;
    c->msgs[c->n].content = copy;
    c->n++;
    return 0;
}

static void chat_clear(chat *c)
{
    for (size_t i = 0; i < c->n; i++) {
        hr_free((char *)c->msgs[i].content);
    }
    c->n = 0;
}

/* One REPL turn: build the prompt from the conversation, answer, remember. */
static int repl_turn(run_ctx *rc, chat *c, hr_buf *doc, const char *line, size_t len)
{
    hr_buf prompt = {0};
    hr_gen_result res;
    int e;
    if (rc->chat_mode) {
        e = chat_push(c, "user", line, len);
        if (e == 0) {
            e = hr_model_chat_apply(rc->model, c->msgs, c->n, true, &prompt, NULL);
        }
    } else {
        bool sep = doc->len && doc->p[doc->len - 1] != ' ' && doc->p[doc->len - 1] != '\n';
        e = hr_buf_append(doc, " ", sep ? 1 : 0);
        e = e < 0 ? e : hr_buf_append(doc, line, len);
        e = e < 0 ? e : hr_buf_append(&prompt, doc->p, doc->len);
    }
    if (e == 0) {
        e = answer(rc, prompt.p, prompt.len, &res);
    }
    if (e == 0 && rc->chat_mode) {
        e = chat_push(c, "assistant", rc->answer.p ? rc->answer.p : "", rc->answer.len);
    } else if (e == 0) {
        e = hr_buf_append(doc, rc->answer.p ? rc->answer.p : "", rc->answer.len);
    } else if (rc->chat_mode && c->n) {
        hr_free((char *)c->msgs[--c->n].content); /* forget the failed turn */
    }
    hr_buf_deinit(&prompt);
    return e;
}

#define READ_EOF (-1)
#define READ_INTR (-2)

/* Read one line from stdin into line (without its end-of-line). Returns the
 * length, READ_EOF, or READ_INTR when Ctrl-C interrupted the read. */
static int read_line(hr_buf *line)
{
    char chunk[512];
    hr_buf_reset(line);
    for (;;) {
        if (!fgets(chunk, sizeof chunk, stdin)) {
            if (interrupted) {
                clearerr(stdin);
                return READ_INTR;
            }
            return line->len ? (int)line->len : READ_EOF;
        }
        size_t n = strlen(chunk);
        bool eol = n && chunk[n - 1] == '\n';
        while (n && (chunk[n - 1] == '\n' || chunk[n - 1] == '\r')) {
            n--;
        }
        if (hr_buf_append(line, chunk, n) < 0 || line->len > (1u << 24)) {
            return READ_EOF;
        }
        if (eol) {
            return (int)line->len;
        }
    }
}

static int repl(run_ctx *rc, const char *system)
{
    chat c = {0};
    hr_buf doc = {0};
    hr_buf line = {0};
    bool tty = isatty(STDIN_FILENO);
    int status = HR_CLI_OK;
    if (rc->chat_mode && system) {
        chat_push(&c, "system", system, strlen(system));
    }
    if (tty) {
        printf("hearth: %s mode. /bye or Ctrl-D to exit, /clear to start over.\n",
               rc->chat_mode ? "chat" : "text-continuation");
    }
    for (;;) {
        if (tty) {
            fputs(">>> ", stdout);
            fflush(stdout);
        }
        interrupted = 0;
        int n = read_line(&line);
        if (n == READ_INTR) {
            fputs("\nUse Ctrl-D or /bye to exit.\n", stdout);
            continue;
        }
        if (n == READ_EOF) {
            break;
        }
        const char *l = line.p;
        if (strcmp(l, "/bye") == 0) {
            break;
        }
        if (strcmp(l, "/clear") == 0) {
            size_t keep = (rc->chat_mode && system) ? 1 : 0;
            while (c.n > keep) {
                hr_free((char *)c.msgs[--c.n].content);
            }
            hr_buf_reset(&doc);
            continue;
        }
        if (strcmp(l, "/?") == 0 || strcmp(l, "/help") == 0) {
            puts("/bye: exit   /clear: forget the conversation   Ctrl-C: stop the answer");
            continue;
        }
        if (line.len == 0) {
            continue;
        }
        if (repl_turn(rc, &c, &doc, l, line.len) < 0 || rc->write_failed) {
            status = HR_CLI_FAIL;
            if (rc->write_failed) {
                break;
            }
        }
    }
    hr_buf_deinit(&line);
    chat_clear(&c);
    hr_free(c.msgs);
    hr_buf_deinit(&doc);
    return status;
}

static void on_load_progress(float f, void *ud)
{
    int *last = ud;
    int pct = (int)(f * 100.0f);
    if (pct != *last) {
        *last = pct;
        fprintf(stderr, "\rloading model %3d%%%s", pct, pct >= 100 ? "\n" : "");
    }
}

/* Load the model and make a session; prints one line on failure. */
static int open_model(run_ctx *rc, const char *path, const run_opts *o)
{
    char err[512];
    int last = -1;
    hr_model_opts mo = {0};
    struct stat st;
    /* Progress only where someone watches and the wait is noticeable. */
    if (isatty(STDERR_FILENO) && stat(path, &st) == 0 && st.st_size > (64 << 20)) {
        mo.progress = on_load_progress;
        mo.progress_ud = &last;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (hr_model_load(&rc->model, path, &mo, err, sizeof err) < 0) {
        fprintf(stderr, "hearth run: %s\n", err);
        return HR_CLI_FAIL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rc->load_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    hr_session_opts so = {.n_ctx = (uint32_t)o->ctx_size, .n_threads = (int32_t)o->threads};
    if (hr_session_new(&rc->sess, rc->model, &so, err, sizeof err) < 0) {
        fprintf(stderr, "hearth run: %s\n", err);
        return HR_CLI_FAIL;
    }
    return HR_CLI_OK;
}

/* Copy the options into generation params; prints one line if they are bad. */
static int make_params(hr_gen_params *gp, const run_opts *o)
{
    char err[256];
    hr_gen_params_init(gp);
    gp->temperature = (float)o->temperature;
    gp->top_p = (float)o->top_p;
    gp->top_k = (int32_t)o->top_k;
    gp->min_p = (float)o->min_p;
    gp->repeat_penalty = (float)o->repeat_penalty;
    gp->repeat_last_n = (int32_t)o->repeat_last_n;
    gp->presence_penalty = (float)o->presence;
    gp->frequency_penalty = (float)o->frequency;
    gp->seed = o->seed < 0 ? HR_SEED_RANDOM : (uint32_t)o->seed;
    gp->max_tokens = o->max_tokens == MAX_TOKENS_UNSET ? HR_GEN_UNLIMITED : (int32_t)o->max_tokens;
    for (size_t i = 0; i < o->n_stop; i++) {
        gp->stop[i] = o->stop[i];
    }
    gp->n_stop = o->n_stop;
    gp->logprobs = o->logprobs;
    gp->top_logprobs = (int32_t)o->top_logprobs;
    gp->ignore_eos = o->ignore_eos;
    if (hr_gen_params_check(gp, err, sizeof err) < 0) {
        fprintf(stderr, "hearth run: %s\n", err);
        return HR_CLI_USAGE;
    }
    return HR_CLI_OK;
}

static const char RUN_USAGE[] =
    "[MODEL.gguf] [PROMPT] [options]\n\n"
    "Generate text with a local GGUF model. With PROMPT, print one answer and exit;\n"
    "without, chat interactively (/bye or Ctrl-D exits, Ctrl-C stops an answer).\n"
    "MODEL defaults to $HEARTH_MODEL or the bundled model.";

/* Answer a single prompt (chat-formatted in chat mode) and return the exit code. */
static int one_shot(run_ctx *rc, const char *prompt, const char *system)
{
    hr_buf text = {0};
    hr_chat_msg msgs[2] = {{"system", system}, {"user", prompt}};
    size_t first = system ? 0 : 1;
    int e = rc->chat_mode
                ? hr_model_chat_apply(rc->model, msgs + first, 2 - first, true, &text, NULL)
                : hr_buf_append_str(&text, prompt);
    hr_gen_result res = {0};
    e = e < 0 ? e : answer(rc, text.p, text.len, &res);
    hr_buf_deinit(&text);
    if (e < 0 || rc->write_failed) {
        return HR_CLI_FAIL;
    }
    return res.finish == HR_FINISH_CANCELED && interrupted ? HR_CLI_INTERRUPTED : HR_CLI_OK;
}

static int run_main(run_opts *o, const char **pos, size_t n_pos)
{
    run_ctx rc = {0};
    const char *model_path = hr__cli_default_model();
    const char *prompt = NULL;
    struct stat st;
    /* One positional: a model if it names an existing file or ends in .gguf. */
    if (n_pos == 2 || (n_pos == 1 && (stat(pos[0], &st) == 0 || strstr(pos[0], ".gguf")))) {
        model_path = pos[0];
        prompt = n_pos == 2 ? pos[1] : NULL;
    } else if (n_pos == 1) {
        prompt = pos[0];
    }
    int status = make_params(&rc.gp, o);
    if (status != HR_CLI_OK) {
        return status;
    }
    rc.show_logprobs = o->logprobs || o->top_logprobs > 0;
    rc.verbose = o->verbose;
    hr_engine_init(o->llama_log);
    install_signals();
    status = open_model(&rc, model_path, o);
    if (status == HR_CLI_OK) {
        hr_model_info info;
        hr_model_get_info(rc.model, &info);
        rc.chat_mode = o->chat || (!o->raw && info.has_chat_template);
    }
    if (status == HR_CLI_OK && prompt) {
        status = one_shot(&rc, prompt, o->system);
    } else if (status == HR_CLI_OK) {
        status = repl(&rc, o->system);
    }
    hr_buf_deinit(&rc.answer);
    hr_session_free(rc.sess);
    hr_model_free(rc.model);
    return status;
}

int hr__cli_run(int argc, char **argv)
{
    run_opts o = {.max_tokens = MAX_TOKENS_UNSET, .top_k = 40, .seed = -1, .temperature = 0.8, .top_p = 0.95,
                  .min_p = 0.05, .repeat_penalty = 1.0, .repeat_last_n = 64};
    const hr_opt opts[] = {
        {"max-tokens", 'n', HR_OPT_INT, &o.max_tokens, -1e9, INT32_MAX - 1, NULL, "N",
         "tokens to generate at most (default: until the model stops)"},
        {"temperature", 0, HR_OPT_DOUBLE, &o.temperature, -1e9, 1e9, NULL, "T",
         "sampling temperature; 0 = greedy (default 0.8)"},
        {"temp", 0, HR_OPT_DOUBLE, &o.temperature, -1e9, 1e9, NULL, "T", "same as --temperature"},
        {"top-p", 0, HR_OPT_DOUBLE, &o.top_p, -1e9, 1e9, NULL, "P", "nucleus sampling (default 0.95)"},
        {"top-k", 0, HR_OPT_INT, &o.top_k, -1e9, 1e9, NULL, "K", "keep the K likeliest tokens; 0 = off (default 40)"},
        {"min-p", 0, HR_OPT_DOUBLE, &o.min_p, -1e9, 1e9, NULL, "P", "min-p sampling (default 0.05)"},
        {"repeat-penalty", 0, HR_OPT_DOUBLE, &o.repeat_penalty, -1e9, 1e9, NULL, "X",
         "penalise repeated tokens; 1 = off (default 1.0)"},
        {"repeat-last-n", 0, HR_OPT_INT, &o.repeat_last_n, -1e9, 1e9, NULL, "N",
         "tokens the penalties look back over (default 64)"},
        {"presence-penalty", 0, HR_OPT_DOUBLE, &o.presence, -1e9, 1e9, NULL, "X", "OpenAI presence penalty (default 0)"},
        {"frequency-penalty", 0, HR_OPT_DOUBLE, &o.frequency, -1e9, 1e9, NULL, "X", "OpenAI frequency penalty (default 0)"},
        {"seed", 's', HR_OPT_INT, &o.seed, -1, UINT32_MAX - 1, NULL, "N", "random seed; -1 = random (default)"},
        {"stop", 0, HR_OPT_STRLIST, o.stop, 0, HR_GEN_MAX_STOP, &o.n_stop, "TEXT",
         "stop before TEXT (repeatable, up to 8)"},
        {"logprobs", 0, HR_OPT_FLAG, &o.logprobs, 0, 0, NULL, NULL,
         "print each token with its log-probability instead of plain text"},
        {"top-logprobs", 0, HR_OPT_INT, &o.top_logprobs, -1e9, 1e9, NULL, "N",
         "with each token, print the N likeliest alternatives (0-20)"},
        {"ctx-size", 'c', HR_OPT_INT, &o.ctx_size, 0, 1 << 24, NULL, "N",
         "context size in tokens (default: the model's, at most 4096)"},
        {"threads", 't', HR_OPT_INT, &o.threads, 1, 1024, NULL, "N", "compute threads (default: all cores)"},
        {"system", 0, HR_OPT_STRING, &o.system, 0, 0, NULL, "TEXT", "system message (chat mode)"},
        {"chat", 0, HR_OPT_FLAG, &o.chat, 0, 0, NULL, NULL, "use the chat template (ChatML if the model has none)"},
        {"raw", 0, HR_OPT_FLAG, &o.raw, 0, 0, NULL, NULL, "continue the text as given, no chat template"},
        {"ignore-eos", 0, HR_OPT_FLAG, &o.ignore_eos, 0, 0, NULL, NULL,
         "never stop at end-of-text: generate until --max-tokens"},
        {"verbose", 'v', HR_OPT_FLAG, &o.verbose, 0, 0, NULL, NULL,
         "after each answer, print token counts and speed to stderr"},
        {"llama-log", 0, HR_OPT_FLAG, &o.llama_log, 0, 0, NULL, NULL, "show llama.cpp's own log"},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    const char *pos[2];
    size_t n_pos = 0;
    int rc = hr__cli_parse("run", RUN_USAGE, opts, argc, argv, pos, 2, &n_pos);
    if (rc != 0) {
        return rc < 0 ? HR_CLI_OK : rc;
    }
    if (o.chat && o.raw) {
        fprintf(stderr, "hearth run: --chat and --raw exclude each other\n");
        return HR_CLI_USAGE;
    }
    return run_main(&o, pos, n_pos);
}
