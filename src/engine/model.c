/* SPDX-License-Identifier: MIT */
/* model.c -- loading GGUF files and everything that needs only the model:
 * metadata, tokens, chat templates.
 *
 * llama.cpp reports a bad file with a log line and a NULL, and some damaged
 * files get far into loading first. So a file is checked here before
 * llama.cpp sees it: that it is a readable regular file, that it parses as
 * GGUF, and that every tensor's data lies inside the file. Each failure has
 * its own code and a one-line message. */
#include "engine/engine_int.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gguf.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/str.h"

static _Atomic bool engine_verbose;
static atomic_flag engine_inited = ATOMIC_FLAG_INIT;

static void llama_log_cb(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    if (atomic_load(&engine_verbose) ||
        (level == GGML_LOG_LEVEL_ERROR && hr_log_get_level() <= HR_LOG_DEBUG)) {
        fputs(text, stderr);
    }
}

void hr_engine_init(bool verbose)
{
    atomic_store(&engine_verbose, verbose);
    llama_log_set(llama_log_cb, NULL);
    if (!atomic_flag_test_and_set(&engine_inited)) {
        llama_backend_init();
    }
}

int hr_engine_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#define errf(...) ((void)hr_errf(err, errlen, 0, __VA_ARGS__))

/* Is path a readable, non-empty regular file that starts with the GGUF
 * magic? Opening is done with O_NONBLOCK so a FIFO cannot hang us. */
static int check_file(const char *path, off_t *size, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        errf("%s: %s", path, e == ENOENT ? "no such file" : hr_strerror(-e));
        return -e;
    }
    if (S_ISDIR(st.st_mode)) {
        errf("%s: is a directory, not a GGUF file", path);
        return HR_EISDIR;
    }
    if (!S_ISREG(st.st_mode)) {
        errf("%s: not a regular file", path);
        return HR_EFORMAT;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        errf("%s: cannot open: %s", path, e == EACCES ? "permission denied" : hr_strerror(-e));
        return -e;
    }
    char magic[4] = {0};
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    if (st.st_size == 0) {
        errf("%s: empty file, not a GGUF model", path);
        return HR_EFORMAT;
    }
    if (got != 4 || memcmp(magic, "GGUF", 4) != 0) {
        errf("%s: not a GGUF file (bad magic)", path);
        return HR_EFORMAT;
    }
    *size = st.st_size;
    return 0;
}

/* Parse the GGUF header and check that all tensor data fits in the file. */
static int check_gguf(const char *path, off_t size, char *err, size_t errlen)
{
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g) {
        errf("%s: corrupt or truncated GGUF header", path);
        return HR_EFORMAT;
    }
    uint64_t end = gguf_get_data_offset(g);
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        uint64_t t_end = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, i) +
                         gguf_get_tensor_size(g, i);
        if (t_end > end) {
            end = t_end;
        }
    }
    gguf_free(g);
    if (end > (uint64_t)size) {
        errf("%s: truncated GGUF: tensor data needs %llu bytes, file has %lld", path,
             (unsigned long long)end, (long long)size);
        return HR_EFORMAT;
    }
    return 0;
}

static bool progress_cb(float p, void *ud)
{
    const hr_model_opts *o = ud;
    o->progress(p, o->progress_ud);
    return true;
}

static void fill_info(hr_model *m)
{
    hr_model_info *in = &m->info;
    char buf[256];
    if (llama_model_meta_val_str(m->lm, "general.architecture", buf, sizeof buf) < 0) {
        hr_strlcpy(buf, "unknown", sizeof buf);
    }
    hr_strlcpy(in->arch, buf, sizeof in->arch);
    if (llama_model_meta_val_str(m->lm, "general.name", buf, sizeof buf) < 0) {
        const char *slash = strrchr(m->path, '/');
        hr_strlcpy(buf, slash ? slash + 1 : m->path, sizeof buf);
    }
    hr_strlcpy(in->name, buf, sizeof in->name);
    /* llama.cpp guesses the type from the tensors when general.file_type
     * is absent, so this never says "unknown". */
    hr_strlcpy(in->quant, llama_ftype_name(llama_model_ftype(m->lm)), sizeof in->quant);
    in->n_params = llama_model_n_params(m->lm);
    in->size_bytes = llama_model_size(m->lm);
    in->n_ctx_train = llama_model_n_ctx_train(m->lm);
    in->n_embd = llama_model_n_embd(m->lm);
    in->n_layer = llama_model_n_layer(m->lm);
    in->n_vocab = llama_vocab_n_tokens(m->vocab);
    in->has_chat_template = m->tmpl != NULL;
}

int hr_model_load(hr_model **out, const char *path, const hr_model_opts *opts, char *err,
                  size_t errlen)
{
    static const hr_model_opts defaults;
    const hr_model_opts *o = opts ? opts : &defaults;
    off_t size = 0;
    *out = NULL;
    int rc = check_file(path, &size, err, errlen);
    if (rc == 0) {
        rc = check_gguf(path, size, err, errlen);
    }
    if (rc < 0) {
        return rc;
    }
    hr_model *m = hr_calloc(1, sizeof *m);
    if (!m || !(m->path = hr_strdup(path))) {
        hr_free(m);
        errf("out of memory");
        return HR_ENOMEM;
    }
    struct llama_model_params mp = llama_model_default_params();
    if (o->cpu_only) {
        mp.n_gpu_layers = 0;
    }
    if (o->progress) {
        mp.progress_callback = progress_cb;
        mp.progress_callback_user_data = (void *)o;
    }
    m->lm = llama_model_load_from_file(path, mp);
    if (!m->lm) {
        errf("%s: llama.cpp could not load this model (unsupported architecture or damaged "
             "file; HEARTH_LOG=debug shows why)", path);
        hr_free(m->path);
        hr_free(m);
        return HR_EMODEL;
    }
    m->vocab = llama_model_get_vocab(m->lm);
    m->tmpl = llama_model_chat_template(m->lm, NULL);
    fill_info(m);
    *out = m;
    return 0;
}

void hr_model_free(hr_model *m)
{
    if (!m) {
        return;
    }
    llama_model_free(m->lm);
    hr_free(m->path);
    hr_free(m);
}

void hr_model_get_info(const hr_model *m, hr_model_info *info)
{
    *info = m->info;
}

const char *hr_model_path(const hr_model *m)
{
    return m->path;
}

int hr_model_tokenize(const hr_model *m, const char *text, size_t len, bool add_bos,
                      bool parse_special, int32_t **toks, size_t *n_toks)
{
    *toks = NULL;
    *n_toks = 0;
    if (len > INT32_MAX / 2) {
        return HR_ETOOBIG;
    }
    /* A token covers at least one byte, plus BOS/EOS and a space prefix; if
     * the vocabulary still needs more room, llama.cpp says how much. */
    int32_t cap = (int32_t)len + 4;
    int32_t *t = NULL;
    int32_t n = 0;
    for (int tries = 0; tries < 2; tries++) {
        t = hr_calloc((size_t)cap, sizeof *t);
        if (!t) {
            return HR_ENOMEM;
        }
        n = llama_tokenize(m->vocab, text, (int32_t)len, t, cap, add_bos, parse_special);
        if (n >= 0) {
            break;
        }
        hr_free(t);
        t = NULL;
        if (n == INT32_MIN) {
            return HR_ETOOBIG;
        }
        cap = -n;
    }
    if (!t) {
        return HR_EINVAL;
    }
    *toks = t;
    *n_toks = (size_t)n;
    return 0;
}

int hr_model_token_piece(const hr_model *m, int32_t tok, hr_buf *out)
{
    char small[64];
    int32_t n = llama_token_to_piece(m->vocab, tok, small, sizeof small, 0, true);
    if (n >= 0) {
        return hr_buf_append(out, small, (size_t)n);
    }
    char *big = hr_malloc((size_t)-n);
    if (!big) {
        return HR_ENOMEM;
    }
    int32_t n2 = llama_token_to_piece(m->vocab, tok, big, -n, 0, true);
    int rc = n2 < 0 ? HR_EINVAL : hr_buf_append(out, big, (size_t)n2);
    hr_free(big);
    return rc;
}

int hr_model_detokenize(const hr_model *m, const int32_t *toks, size_t n, hr_buf *out)
{
    if (n > INT32_MAX) {
        return HR_ETOOBIG;
    }
    int32_t need = llama_detokenize(m->vocab, toks, (int32_t)n, NULL, 0, false, true);
    if (need >= 0) {
        return 0; /* empty text */
    }
    char *p = hr_malloc((size_t)-need);
    if (!p) {
        return HR_ENOMEM;
    }
    int32_t got = llama_detokenize(m->vocab, toks, (int32_t)n, p, -need, false, true);
    int rc = got < 0 ? HR_EINVAL : hr_buf_append(out, p, (size_t)got);
    hr_free(p);
    return rc;
}

bool hr_model_token_is_eog(const hr_model *m, int32_t tok)
{
    return llama_vocab_is_eog(m->vocab, tok);
}

/* ChatML, the documented fallback for models without a usable template. */
static int chatml(const hr_chat_msg *msgs, size_t n, bool add_assistant, hr_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        int rc = hr_buf_printf(out, "<|im_start|>%s\n%s<|im_end|>\n", msgs[i].role,
                               msgs[i].content);
        if (rc < 0) {
            return rc;
        }
    }
    return add_assistant ? hr_buf_append_str(out, "<|im_start|>assistant\n") : 0;
}

int hr_model_chat_apply(const hr_model *m, const hr_chat_msg *msgs, size_t n, bool add_assistant,
                        hr_buf *out, bool *used_fallback)
{
    if (used_fallback) {
        *used_fallback = true;
    }
    if (!m->tmpl) {
        return chatml(msgs, n, add_assistant, out);
    }
    struct llama_chat_message *lm = hr_calloc(n, sizeof *lm);
    if (!lm) {
        return HR_ENOMEM;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        lm[i].role = msgs[i].role;
        lm[i].content = msgs[i].content;
        total += strlen(msgs[i].content) + strlen(msgs[i].role);
    }
    int32_t cap = total * 2 + 256 < INT32_MAX ? (int32_t)(total * 2 + 256) : INT32_MAX;
    char *buf = hr_malloc((size_t)cap);
    int32_t got = buf ? llama_chat_apply_template(m->tmpl, lm, n, add_assistant, buf, cap) : 0;
    if (buf && got > cap) {
        char *bigger = hr_realloc(buf, (size_t)got);
        buf = bigger ? bigger : (hr_free(buf), NULL);
        cap = got;
        got = buf ? llama_chat_apply_template(m->tmpl, lm, n, add_assistant, buf, cap) : 0;
    }
    hr_free(lm);
    if (!buf) {
        return HR_ENOMEM;
    }
    int rc;
    if (got < 0) {
        /* A Jinja template llama.cpp's built-in list does not recognise. */
        hr_log(HR_LOG_DEBUG, "engine", "chat template not recognised; using ChatML");
        rc = chatml(msgs, n, add_assistant, out);
    } else {
        rc = hr_buf_append(out, buf, (size_t)got);
        if (used_fallback) {
            *used_fallback = false;
        }
    }
    hr_free(buf);
    return rc;
}
