/* SPDX-License-Identifier: MIT */
/* cli.c -- `hearth` subcommand dispatch, --version and --help. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HEARTH_DEFAULT_MODEL
#define HEARTH_DEFAULT_MODEL "models/stories260k.gguf"
#endif

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"audit", hr__cli_audit, "verify, export or prune the audit log"},
    {"calibrate", hr__cli_calibrate, "fit the confidence model on labelled answers"},
    {"eval", hr__cli_eval, "measure local-first routing on labelled prompts"},
    {"redact", hr__cli_redact, "redact PII from stdin and list the findings"},
    {"run", hr__cli_run, "generate text or chat with a local GGUF model"},
    {"serve", hr__cli_serve, "serve a model over the OpenAI API"},
    {"show", hr__cli_show, "print a model's metadata"},
};

const char *hr__cli_default_model(void)
{
    const char *env = getenv("HEARTH_MODEL");
    return env && *env ? env : HEARTH_DEFAULT_MODEL;
}

static void usage(FILE *f)
{
    fprintf(f, "hearth %s -- local-first LLM gateway\n\nUsage: hearth COMMAND [ARGS]\n\n"
               "Commands:\n", HEARTH_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\nRun 'hearth COMMAND --help' for a command's options.\n"
               "Default model: %s\n", hr__cli_default_model());
}

int hr_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return HR_CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        printf("hearth %s\n", HEARTH_VERSION);
        return HR_CLI_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return HR_CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            return commands[i].fn(argc - 2, argv + 2);
        }
    }
    fprintf(stderr, "hearth: unknown command '%s' (see 'hearth --help')\n", cmd);
    return HR_CLI_USAGE;
}
