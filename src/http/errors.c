/* SPDX-License-Identifier: MIT */
/* errors.c -- every error a client sees is built here, in the OpenAI shape
 * {"error":{"message","type","param","code"}}, so status, type and body can
 * never disagree between handlers. Loop thread. */
#include "http/http_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

static const char *type_for(int status)
{
    if (status == 401) {
        return "authentication_error";
    }
    if (status == 403) {
        return "permission_error";
    }
    if (status == 404) {
        return "not_found_error";
    }
    if (status >= 500) {
        return "server_error";
    }
    return "invalid_request_error";
}

void hr__http_json(hr_req *r, int status, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!s) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":"
                                  "\"server_error\",\"param\":null,\"code\":null}}";
        hr__http_respond(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    hr__http_respond(r, status, "application/json", s, strlen(s));
    hr_free(s); /* jansson allocates through hr_malloc (http.c) */
}

void hr__http_error(hr_req *r, int status, const char *code, const char *param,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *err = json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", msg, "type",
                            type_for(status), "param", param, "code", code);
    hr__http_json(r, status, err);
}
