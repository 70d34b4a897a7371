/* SPDX-License-Identifier: MIT */
/* config.h -- hearth's YAML config file, read into plain structs.
 *
 * Precedence, highest first: command-line flag, environment variable
 * (HEARTH_*), config file, built-in default. This file only reads the file;
 * serve.c applies the precedence. */
#ifndef HR_CLI_CONFIG_H
#define HR_CLI_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "router/router.h"
#include "upstream/upstream.h"

#define HR_CONFIG_MAX_UPSTREAMS 16
#define HR_CONFIG_MAX_ROUTES 32

typedef struct hr_config {
    json_t *doc;               /* owns every string below */
    const char *model;         /* NULL when not set */
    const char *host;
    int64_t port, parallel, ctx_size, threads, queue; /* -1 when not set */
    const char *calibration;   /* confidence.calibration file */
    hr_upstream_opts upstreams[HR_CONFIG_MAX_UPSTREAMS];
    size_t n_upstreams;
    hr_route_opts routes[HR_CONFIG_MAX_ROUTES];
    size_t n_routes;
    struct {
        const char *path;          /* the database; NULL when not set, "off" turns it off */
        int64_t retention_days;    /* -1 when not set */
        int64_t queue;             /* -1 when not set */
        const char *key_env;       /* env var with the checkpoint key, or NULL */
        int log_prompts;           /* -1 unset, 0, 1 */
    } audit;
    json_t *privacy;               /* the privacy section (borrowed from doc), or NULL */
} hr_config;

/* Read and check path. On error, err names the file and key path. */
int hr_config_load(hr_config *c, const char *path, char *err, size_t errlen);

/* An empty config (nothing set). */
void hr_config_init(hr_config *c);
void hr_config_free(hr_config *c);

#endif
