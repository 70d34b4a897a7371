/* SPDX-License-Identifier: MIT */
/* opts.c -- table-driven option parsing and help text (see cli.h). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "util/err.h"
#include "util/str.h"

static const hr_opt *find_long(const hr_opt *opts, const char *name, size_t len)
{
    for (const hr_opt *o = opts; o->name; o++) {
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) {
            return o;
        }
    }
    return NULL;
}

static const hr_opt *find_short(const hr_opt *opts, char c)
{
    for (const hr_opt *o = opts; o->name; o++) {
        if (o->short_name == c) {
            return o;
        }
    }
    return NULL;
}

/* Store val into o's destination. Returns 0 or prints why not. */
static int set_value(const char *cmd, const hr_opt *o, const char *val)
{
    int rc = 0;
    switch (o->type) {
    case HR_OPT_FLAG:
        *(bool *)o->dst = true;
        return 0;
    case HR_OPT_INT:
        rc = hr_parse_i64(val, (int64_t)o->min, (int64_t)o->max, (int64_t *)o->dst);
        break;
    case HR_OPT_DOUBLE:
        rc = hr_parse_double(val, o->min, o->max, (double *)o->dst);
        break;
    case HR_OPT_STRING:
        *(const char **)o->dst = val;
        return 0;
    case HR_OPT_STRLIST:
        if (*o->count >= (size_t)o->max) {
            fprintf(stderr, "hearth %s: at most %d --%s values are allowed\n", cmd, (int)o->max,
                    o->name);
            return HR_CLI_USAGE;
        }
        ((const char **)o->dst)[(*o->count)++] = val;
        return 0;
    }
    if (rc == HR_ERANGE) {
        fprintf(stderr, "hearth %s: --%s %s is out of range [%g, %g]\n", cmd, o->name, val, o->min,
                o->max);
        return HR_CLI_USAGE;
    }
    if (rc < 0) {
        fprintf(stderr, "hearth %s: --%s needs a number, got '%s'\n", cmd, o->name, val);
        return HR_CLI_USAGE;
    }
    return 0;
}

/* Handle argv[*i], an option; may consume the next argument as its value. */
static int parse_one(const char *cmd, const hr_opt *opts, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const hr_opt *o;
    const char *val = NULL;
    if (a[1] == '-') {
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        o = find_long(opts, a + 2, len);
        val = eq ? eq + 1 : NULL;
    } else {
        o = a[2] == '\0' ? find_short(opts, a[1]) : NULL;
    }
    if (!o) {
        fprintf(stderr, "hearth %s: unknown option '%s' (see 'hearth %s --help')\n", cmd, a, cmd);
        return HR_CLI_USAGE;
    }
    if (o->type == HR_OPT_FLAG) {
        if (val) {
            fprintf(stderr, "hearth %s: --%s takes no value\n", cmd, o->name);
            return HR_CLI_USAGE;
        }
        return set_value(cmd, o, NULL);
    }
    if (!val) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "hearth %s: --%s needs a value\n", cmd, o->name);
            return HR_CLI_USAGE;
        }
        val = argv[++*i];
    }
    return set_value(cmd, o, val);
}

int hr__cli_parse(const char *cmd, const char *usage, const hr_opt *opts, int argc, char **argv,
                  const char **pos, size_t max_pos, size_t *n_pos)
{
    bool only_pos = false;
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (!only_pos && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            hr__cli_help(cmd, usage, opts);
            return -1;
        }
        if (!only_pos && a[0] == '-' && a[1] != '\0') {
            int rc = parse_one(cmd, opts, argc, argv, &i);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (*n_pos >= max_pos) {
            fprintf(stderr, "hearth %s: unexpected argument '%s' (see 'hearth %s --help')\n", cmd,
                    a, cmd);
            return HR_CLI_USAGE;
        }
        pos[(*n_pos)++] = a;
    }
    return 0;
}

void hr__cli_help(const char *cmd, const char *usage, const hr_opt *opts)
{
    printf("Usage: hearth %s %s\n\nOptions:\n", cmd, usage);
    for (const hr_opt *o = opts; o->name; o++) {
        char left[64];
        char sn[8] = "    ";
        if (o->short_name) {
            snprintf(sn, sizeof sn, "-%c, ", o->short_name);
        }
        snprintf(left, sizeof left, "%s--%s%s%s", sn, o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        printf("  %-28s %s\n", left, o->help);
    }
    printf("  %-28s %s\n", "-h, --help", "show this help");
}
