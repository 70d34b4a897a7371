/* SPDX-License-Identifier: MIT */
/* cli.h -- the `hearth` command line: the composition root.
 *
 * Each subcommand is one file (run.c, show.c) with an entry point of the
 * hr__cli_cmd signature; cli.c dispatches. Options are declared as data in
 * one table per command (opts.c parses them and prints --help from them), so
 * the parser and the help text cannot disagree. */
#ifndef HR_CLI_CLI_H
#define HR_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes. */
#define HR_CLI_OK 0
#define HR_CLI_FAIL 1  /* the work failed (bad model, runtime error) */
#define HR_CLI_USAGE 2 /* bad command line */
#define HR_CLI_INTERRUPTED 130

/* Run the hearth command line; returns the process exit code. */
int hr_cli_main(int argc, char **argv);

/* ---- for the subcommand files ------------------------------------------- */

typedef enum hr_opt_type {
    HR_OPT_FLAG,    /* bool, no argument */
    HR_OPT_INT,     /* int64 in [min, max] */
    HR_OPT_DOUBLE,  /* double in [min, max] */
    HR_OPT_STRING,  /* const char *, borrowed from argv */
    HR_OPT_STRLIST, /* repeatable: appends to a const char *[max] array */
} hr_opt_type;

typedef struct hr_opt {
    const char *name;  /* long name without "--" */
    char short_name;   /* 0 if none */
    hr_opt_type type;
    void *dst;         /* bool*, int64_t*, double*, const char**, const char*[] */
    double min, max;   /* range for numbers; for STRLIST max is the capacity */
    size_t *count;     /* STRLIST only: how many were given */
    const char *arg;   /* argument name in help, e.g. "N" */
    const char *help;
} hr_opt;

/* Parse argv[0..argc) against opts (terminated by an entry with name NULL).
 * Positional arguments are collected into pos[0..max_pos) and counted in
 * *n_pos. "--" ends options. On error prints one line to stderr and returns
 * HR_CLI_USAGE; on -h/--help prints usage and returns -1; otherwise 0. */
int hr__cli_parse(const char *cmd, const char *usage, const hr_opt *opts, int argc, char **argv,
                  const char **pos, size_t max_pos, size_t *n_pos);

/* Print the help text generated from opts. */
void hr__cli_help(const char *cmd, const char *usage, const hr_opt *opts);

/* The model path used when none is given: $HEARTH_MODEL, else the bundled
 * default model. */
const char *hr__cli_default_model(void);

struct hr_config;
struct event_base;
struct hr_router;
struct hr_upstreams;
/* The router and upstreams a config describes (routing.c). */
int hr__cli_routing_open(const struct hr_config *cfg, const char *calibration,
                         struct event_base *base, struct hr_router **router,
                         struct hr_upstreams **ups, char *err, size_t errlen);

int hr__cli_audit(int argc, char **argv);
int hr__cli_calibrate(int argc, char **argv);
int hr__cli_eval(int argc, char **argv);
int hr__cli_redact(int argc, char **argv);
int hr__cli_run(int argc, char **argv);
int hr__cli_show(int argc, char **argv);
int hr__cli_serve(int argc, char **argv);

#endif
