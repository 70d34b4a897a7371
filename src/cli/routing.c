/* SPDX-License-Identifier: MIT */
/* routing.c -- builds the router and the upstreams from the config file
 * for `hearth serve`, checking that every route names an upstream that
 * exists. Main thread, at start-up. */
#include "cli/cli.h"

#include "cli/config.h"
#include "util/err.h"

int hr__cli_routing_open(const hr_config *cfg, const char *calibration, struct event_base *base,
                         hr_router **router, hr_upstreams **ups, char *err, size_t errlen)
{
    *router = NULL;
    *ups = NULL;
    hr_conf_model conf;
    hr_conf_model_default(&conf);
    int rc = calibration ? hr_conf_model_load(&conf, calibration, err, errlen) : 0;
    if (rc == 0 && hr_upstreams_new(ups, base) < 0) {
        rc = hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < cfg->n_upstreams; i++) {
        rc = hr_upstream_add(*ups, &cfg->upstreams[i], err, errlen);
    }
    if (rc == 0 && hr_router_new(router, &conf) < 0) {
        rc = hr_errf(err, errlen, HR_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < cfg->n_routes; i++) {
        const hr_route_opts *ro = &cfg->routes[i];
        if (ro->upstream && !hr_upstream_find(*ups, ro->upstream)) {
            rc = hr_errf(err, errlen, HR_EINVAL, "route %s: no upstream named %s", ro->name,
                         ro->upstream);
        } else {
            rc = hr_router_add(*router, ro, err, errlen);
        }
    }
    if (rc < 0) {
        hr_router_free(*router);
        hr_upstreams_free(*ups);
        *router = NULL;
        *ups = NULL;
    }
    return rc;
}
