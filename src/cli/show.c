/* SPDX-License-Identifier: MIT */
/* show.c -- `hearth show [MODEL]`: a model's metadata as a table. */
#include "cli/cli.h"

#include <stdio.h>

#include "engine/engine.h"

static const char SHOW_USAGE[] = "[MODEL.gguf] [options]\n\n"
                                 "Print what a GGUF model says about itself.";

/* Parameter counts as people write them: 293.1K, 7.24B. */
static void human_count(char *out, size_t len, uint64_t n)
{
    static const char *units[] = {"", "K", "M", "B", "T"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000.0 && u < 4) {
        v /= 1000.0;
        u++;
    }
    snprintf(out, len, u ? "%.2f%s" : "%.0f%s", v, units[u]);
}

int hr__cli_show(int argc, char **argv)
{
    bool verbose = false;
    const hr_opt opts[] = {
        {"verbose", 'v', HR_OPT_FLAG, &verbose, 0, 0, NULL, NULL, "show llama.cpp's log"},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
    };
    const char *pos[1];
    size_t n_pos = 0;
    int rc = hr__cli_parse("show", SHOW_USAGE, opts, argc, argv, pos, 1, &n_pos);
    if (rc != 0) {
        return rc < 0 ? HR_CLI_OK : rc;
    }
    const char *path = n_pos ? pos[0] : hr__cli_default_model();
    char err[512];
    hr_model *m = NULL;
    hr_engine_init(verbose);
    hr_model_opts mo = {.cpu_only = true};
    if (hr_model_load(&m, path, &mo, err, sizeof err) < 0) {
        fprintf(stderr, "hearth show: %s\n", err);
        return HR_CLI_FAIL;
    }
    hr_model_info in;
    hr_model_get_info(m, &in);
    char params[32];
    human_count(params, sizeof params, in.n_params);
    printf("  %-16s %s\n", "file", hr_model_path(m));
    printf("  %-16s %s\n", "name", in.name);
    printf("  %-16s %s\n", "architecture", in.arch);
    printf("  %-16s %s (%llu)\n", "parameters", params, (unsigned long long)in.n_params);
    printf("  %-16s %s\n", "quantization", in.quant);
    printf("  %-16s %.2f MiB\n", "size", in.size_bytes / 1048576.0);
    printf("  %-16s %d\n", "context length", in.n_ctx_train);
    printf("  %-16s %d\n", "embedding", in.n_embd);
    printf("  %-16s %d\n", "layers", in.n_layer);
    printf("  %-16s %d\n", "vocabulary", in.n_vocab);
    printf("  %-16s %s\n", "chat template", in.has_chat_template ? "yes" : "no (ChatML fallback)");
    hr_model_free(m);
    return HR_CLI_OK;
}
