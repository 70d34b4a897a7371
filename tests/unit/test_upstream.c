/* SPDX-License-Identifier: MIT */
/* test_upstream.c -- the protocol mapping (src/upstream/proto.c and
 * anthropic.c) on its own, with no transport: OpenAI requests into
 * Anthropic ones and back, streamed events into chunks, and the cases
 * that must be refused rather than sent without what they ask for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "upstream/upstream_int.h"
#include "util/alloc.h"
#include "util/err.h"

static hr_upstream anth = {.model = "claude-test", .kind = HR_UP_KIND_ANTHROPIC};
static hr_upstream oai = {.model = "gpt-test", .kind = HR_UP_KIND_OPENAI};

static json_t *load(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

/* Does the JSON text `want` equal j (as JSON, not as text)? */
static void assert_json(json_t *j, const char *want)
{
    json_t *w = load(want);
    if (!json_equal(j, w)) {
        char *got = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        print_error("got  %s\nwant %s\n", got, want);
        hr_free(got);
        fail();
    }
    json_decref(w);
}

static json_t *body_of(const char *req)
{
    json_t *r = load(req);
    json_t *b = hr__anth_body(&anth, r, false);
    json_decref(r);
    return b;
}

static void test_messages_and_tools(void **state)
{
    json_t *b = body_of(
        "{\"temperature\": 1.6, \"max_completion_tokens\": 9, \"parallel_tool_calls\": false,"
        " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}],"
        " \"tool_choice\": \"required\", \"messages\": ["
        "{\"role\": \"system\", \"content\": \"A\"}, {\"role\": \"developer\", \"content\": \"B\"},"
        "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"look\"},"
        " {\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,QUJD\"}},"
        " {\"type\": \"image_url\", \"image_url\": {\"url\": \"https://x/y.jpg\"}}]},"
        "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": ["
        " {\"id\": \"t1\", \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}},"
        " {\"id\": \"t2\", \"function\": {\"name\": \"f\", \"arguments\": \"\"}}]},"
        "{\"role\": \"tool\", \"tool_call_id\": \"t1\", \"content\": \"one\"},"
        "{\"role\": \"tool\", \"tool_call_id\": \"t2\", \"content\": [{\"type\": \"text\","
        " \"text\": \"two\"}]}]}");
    assert_non_null(b);
    assert_json(b,
        "{\"model\": \"claude-test\", \"max_tokens\": 9, \"stream\": false, \"temperature\": 1.0,"
        " \"system\": \"A\\n\\nB\","
        " \"tools\": [{\"name\": \"f\", \"input_schema\": {\"type\": \"object\", \"properties\": {}}}],"
        " \"tool_choice\": {\"type\": \"any\", \"disable_parallel_tool_use\": true},"
        " \"messages\": ["
        "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"look\"},"
        " {\"type\": \"image\", \"source\": {\"type\": \"base64\", \"media_type\": \"image/png\","
        " \"data\": \"QUJD\"}},"
        " {\"type\": \"image\", \"source\": {\"type\": \"url\", \"url\": \"https://x/y.jpg\"}}]},"
        "{\"role\": \"assistant\", \"content\": ["
        " {\"type\": \"tool_use\", \"id\": \"t1\", \"name\": \"f\", \"input\": {\"a\": 1}},"
        " {\"type\": \"tool_use\", \"id\": \"t2\", \"name\": \"f\", \"input\": {}}]},"
        "{\"role\": \"user\", \"content\": ["
        " {\"type\": \"tool_result\", \"tool_use_id\": \"t1\", \"content\": \"one\"},"
        " {\"type\": \"tool_result\", \"tool_use_id\": \"t2\", \"content\": \"two\"}]}]}");
    json_decref(b);
    b = body_of("{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"g\","
                " \"description\": \"d\", \"parameters\": {\"type\": \"object\"}}}],"
                " \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"g\"}},"
                " \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}");
    json_t *want = load("[{\"name\": \"g\", \"description\": \"d\","
                        " \"input_schema\": {\"type\": \"object\"}}]");
    assert_true(json_equal(json_object_get(b, "tools"), want));
    assert_json(json_object_get(b, "tool_choice"), "{\"type\": \"tool\", \"name\": \"g\"}");
    assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 4096);
    json_decref(want);
    json_decref(b);
}

/* What the Messages API cannot carry is refused, never sent without it. */
static void test_refusals(void **state)
{
    static const char *bad[] = {
        /* a tool call whose arguments are not an object */
        "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"t\","
        " \"function\": {\"name\": \"f\", \"arguments\": \"[1]\"}}]}]}",
        /* a data: URL that is not base64 */
        "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\","
        " \"image_url\": {\"url\": \"data:image/png,abc\"}}]}]}",
        /* several choices */
        "{\"n\": 2, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
        /* a schema beside tools of the client's own */
        "{\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"s\"}},"
        " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}],"
        " \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
        /* a tool that is not a function */
        "{\"tools\": [{\"type\": \"custom\", \"custom\": {\"name\": \"c\"}}],"
        " \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = body_of(bad[i]);
        if (b) {
            print_error("case %zu was not refused\n", i);
            fail();
        }
        json_t *r = load(bad[i]);
        hr_buf out = {0};
        assert_int_equal(hr__up_body(&anth, r, false, &out), HR_EINVAL);
        hr_buf_deinit(&out);
        json_decref(r);
    }
}

static void test_schema_as_tool(void **state)
{
    const char *req = "{\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {"
                      "\"name\": \"place\", \"schema\": {\"type\": \"object\"}}},"
                      " \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}";
    json_t *r = load(req);
    assert_true(hr__anth_schema_tool(r));
    json_t *b = hr__anth_body(&anth, r, true);
    assert_json(json_object_get(b, "tool_choice"), "{\"type\": \"tool\", \"name\": \"place\"}");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(b, "tools"), 0), "name")),
                        "place");
    json_decref(b);
    json_decref(r);
    json_t *m = load("{\"type\": \"message\", \"id\": \"m\", \"model\": \"c\", \"stop_reason\":"
                     " \"tool_use\", \"usage\": {\"input_tokens\": 3, \"output_tokens\": 4},"
                     " \"content\": [{\"type\": \"tool_use\", \"id\": \"t\", \"name\": \"place\","
                     " \"input\": {\"city\": \"Paris\"}}]}");
    json_t *doc = hr__anth_message(m, true);
    json_t *ch = json_array_get(json_object_get(doc, "choices"), 0);
    assert_json(json_object_get(ch, "message"),
                "{\"role\": \"assistant\", \"content\": \"{\\\"city\\\":\\\"Paris\\\"}\"}");
    assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "stop");
    json_decref(doc);
    doc = hr__anth_message(m, false); /* an ordinary tool call */
    ch = json_array_get(json_object_get(doc, "choices"), 0);
    assert_json(json_object_get(ch, "message"),
                "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"t\","
                " \"type\": \"function\", \"function\": {\"name\": \"place\","
                " \"arguments\": \"{\\\"city\\\":\\\"Paris\\\"}\"}}]}");
    assert_string_equal(json_string_value(json_object_get(ch, "finish_reason")), "tool_calls");
    assert_json(json_object_get(doc, "usage"),
                "{\"prompt_tokens\": 3, \"completion_tokens\": 4, \"total_tokens\": 7}");
    json_decref(doc);
    json_decref(m);
}

/* Feed events; return the deltas (and usage) of the chunks they made. */
static json_t *run_events(const char *const *events, size_t n, bool schema, int *last_rc)
{
    hr_up_stream_state st = {.schema_tool = schema};
    json_t *got = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *c = NULL;
        *last_rc = hr__up_stream_event(&anth, &st, NULL, events[i], &c);
        if (c) {
            json_t *ch = json_array_get(json_object_get(c, "choices"), 0);
            json_t *fin = json_object_get(ch, "finish_reason");
            json_array_append_new(got, ch ? json_pack("{s:O, s:O}", "delta",
                                                      json_object_get(ch, "delta"), "fin", fin)
                                          : json_pack("{s:O}", "usage",
                                                      json_object_get(c, "usage")));
            json_decref(c);
        }
    }
    return got;
}

static void test_stream_events(void **state)
{
    static const char *const ev[] = {
        "{\"type\": \"message_start\", \"message\": {\"id\": \"m1\", \"usage\":"
        " {\"input_tokens\": 5}}}",
        "{\"type\": \"ping\"}",
        "{\"type\": \"content_block_start\", \"index\": 0, \"content_block\": {\"type\": \"text\","
        " \"text\": \"\"}}",
        "{\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\","
        " \"text\": \"Hi\"}}",
        "{\"type\": \"content_block_stop\", \"index\": 0}",
        "{\"type\": \"content_block_start\", \"index\": 1, \"content_block\": {\"type\":"
        " \"tool_use\", \"id\": \"t1\", \"name\": \"f\", \"input\": {}}}",
        "{\"type\": \"content_block_delta\", \"index\": 1, \"delta\": {\"type\":"
        " \"input_json_delta\", \"partial_json\": \"{\\\"a\\\":\"}}",
        "{\"type\": \"content_block_delta\", \"index\": 1, \"delta\": {\"type\":"
        " \"input_json_delta\", \"partial_json\": \"1}\"}}",
        "{\"type\": \"content_block_stop\", \"index\": 1}",
        "{\"type\": \"content_block_start\", \"index\": 2, \"content_block\": {\"type\":"
        " \"tool_use\", \"id\": \"t2\", \"name\": \"g\", \"input\": {}}}",
        "{\"type\": \"content_block_stop\", \"index\": 2}",
        "{\"type\": \"message_delta\", \"delta\": {\"stop_reason\": \"tool_use\"}, \"usage\":"
        " {\"output_tokens\": 7}}",
        "{\"type\": \"message_stop\"}",
    };
    size_t n = sizeof ev / sizeof ev[0];
    int rc = 0;
    json_t *got = run_events(ev, n, false, &rc);
    assert_int_equal(rc, 1); /* message_stop is the end */
    assert_json(got,
        "[{\"delta\": {\"role\": \"assistant\", \"content\": \"\"}, \"fin\": null},"
        " {\"delta\": {\"content\": \"Hi\"}, \"fin\": null},"
        " {\"delta\": {\"tool_calls\": [{\"index\": 0, \"id\": \"t1\", \"type\": \"function\","
        "  \"function\": {\"name\": \"f\", \"arguments\": \"\"}}]}, \"fin\": null},"
        " {\"delta\": {\"tool_calls\": [{\"index\": 0, \"function\": {\"arguments\":"
        "  \"{\\\"a\\\":\"}}]}, \"fin\": null},"
        " {\"delta\": {\"tool_calls\": [{\"index\": 0, \"function\": {\"arguments\": \"1}\"}}]},"
        "  \"fin\": null},"
        " {\"delta\": {\"tool_calls\": [{\"index\": 1, \"id\": \"t2\", \"type\": \"function\","
        "  \"function\": {\"name\": \"g\", \"arguments\": \"\"}}]}, \"fin\": null},"
        " {\"delta\": {}, \"fin\": \"tool_calls\"},"
        " {\"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 7, \"total_tokens\": 12}}]");
    json_decref(got);
    /* The schema's tool: its input is the content; the text before it is not. */
    got = run_events(ev, n, true, &rc);
    assert_json(got,
        "[{\"delta\": {\"role\": \"assistant\", \"content\": \"\"}, \"fin\": null},"
        " {\"delta\": {\"content\": \"{\\\"a\\\":\"}, \"fin\": null},"
        " {\"delta\": {\"content\": \"1}\"}, \"fin\": null},"
        " {\"delta\": {}, \"fin\": \"stop\"},"
        " {\"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 7, \"total_tokens\": 12}}]");
    json_decref(got);
    hr_up_stream_state st = {0};
    json_t *c = NULL;
    assert_int_equal(hr__up_stream_event(&anth, &st, NULL,
                                         "{\"type\": \"error\", \"error\": {\"type\": \"x\"}}", &c),
                     HR_EFORMAT);
    assert_int_equal(hr__up_stream_event(&anth, &st, NULL, "not json", &c), HR_EFORMAT);
    assert_null(c);
}

/* OpenAI-compatible bodies: hearth asks for a stream's usage unless the
 * upstream refused the option; local-only fields never go. */
static void test_openai_body(void **state)
{
    json_t *r = load("{\"model\": \"auto\", \"top_k\": 5, \"min_p\": 0.1, \"stream_options\":"
                     " {\"include_usage\": false}, \"messages\": []}");
    hr_buf out = {0};
    assert_int_equal(hr__up_body(&oai, r, true, &out), 0);
    json_t *b = load(out.p);
    assert_json(b, "{\"model\": \"gpt-test\", \"stream\": true, \"messages\": [],"
                   " \"stream_options\": {\"include_usage\": true}}");
    json_decref(b);
    oai.no_stream_usage = true;
    hr_buf_reset(&out);
    assert_int_equal(hr__up_body(&oai, r, true, &out), 0);
    b = load(out.p);
    assert_json(json_object_get(b, "stream_options"), "{\"include_usage\": false}");
    json_decref(b);
    hr_buf_reset(&out);
    assert_int_equal(hr__up_body(&oai, r, false, &out), 0); /* not a stream: no options */
    b = load(out.p);
    assert_null(json_object_get(b, "stream_options"));
    oai.no_stream_usage = false;
    json_decref(b);
    hr_buf_deinit(&out);
    /* The caller's request is untouched (the body is a shallow copy). */
    assert_json(json_object_get(r, "stream_options"), "{\"include_usage\": false}");
    json_decref(r);
    /* An empty tool list, which OpenAI refuses, goes with its options. */
    r = load("{\"tools\": [], \"tool_choice\": \"auto\", \"parallel_tool_calls\": true,"
             " \"messages\": []}");
    assert_int_equal(hr__up_body(&oai, r, false, &out), 0);
    b = load(out.p);
    assert_json(b, "{\"model\": \"gpt-test\", \"stream\": false, \"messages\": []}");
    json_decref(b);
    json_decref(r);
    hr_buf_deinit(&out);
    /* Answers: tool calls with null content are an answer, not malformed. */
    static const char ok[] = "{\"choices\": [{\"message\": {\"content\": null, \"tool_calls\":"
                             " [{\"id\": \"c\"}]}}]}";
    json_t *doc = hr__up_parse_response(&oai, ok, strlen(ok), false);
    assert_non_null(doc);
    json_decref(doc);
    static const char bad[] = "{\"choices\": [{\"message\": {\"content\": null}}]}";
    assert_null(hr__up_parse_response(&oai, bad, strlen(bad), false));
}

int main(void)
{
    json_set_alloc_funcs(hr_malloc, hr_free); /* as the server sets it: hr_free frees dumps */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_and_tools), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_schema_as_tool),     cmocka_unit_test(test_stream_events),
        cmocka_unit_test(test_openai_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
