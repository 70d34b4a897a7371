# test_routing.py -- local first, escalate when unsure, never fail when local
# can answer. The "cloud" is a second real `hearth serve` behind a fault
# injecting proxy; an Anthropic stand-in checks that adapter both ways.
import json
import re
import time

import pytest

from conftest import Server, sse_events
from fakes import FakeAnthropic, FaultProxy

CLOUD_KEY = "sk-cloud-7f3a9c1e5b"
ANTH_KEY = "sk-ant-4d2b8e6f0a"
HI = [{"role": "user", "content": "Hi"}]


def config(tmp_path, proxy_port, anth_port):
    text = """
upstreams:
  cloud:
    kind: openai
    base_url: http://127.0.0.1:%d/v1
    model: stories260k
    api_key_env: TEST_CLOUD_KEY
    timeout: {connect_ms: 1000, first_byte_ms: 800, total_ms: 4000}
    retries: 2
    backoff_ms: 20
    circuit_breaker: {failures: 1000}
  fragile:
    base_url: http://127.0.0.1:%d/v1
    model: stories260k
    api_key_env: TEST_CLOUD_KEY
    retries: 0
    circuit_breaker: {failures: 3, reset_ms: 60000}
  claude:
    kind: anthropic
    base_url: http://127.0.0.1:%d/v1
    model: claude-test
    api_key_env: TEST_ANTH_KEY
routes:
  auto: {policy: local_first, upstream: cloud}
  never-unsure: {policy: local_first, upstream: cloud, threshold: 0}
  always-unsure: {policy: local_first, upstream: cloud, threshold: 1, holdback_tokens: 4}
  gated:
    policy: local_first
    upstream: cloud
    threshold: 0
    pregate: {max_prompt_tokens: 60, always_cloud: ["(?i)translate"]}
  cloud: {policy: cloud_only, upstream: cloud}
  fallback: {policy: cloud_fallback, upstream: cloud}
  private: {policy: local_only}
  claude: {policy: cloud_only, upstream: claude}
  claude-first: {policy: local_first, upstream: claude, threshold: 0}
  claude-vision: {policy: cloud_only, upstream: claude, privacy: pictures}
  breaker: {policy: local_first, upstream: fragile, threshold: 1}
  fragile-only: {policy: cloud_only, upstream: fragile}
  live: {policy: cloud_only, upstream: cloud, cloud_stream: live}
privacy:
  policies:
    pictures: {actions: {image: allow}}
""" % (proxy_port, proxy_port, anth_port)
    path = tmp_path / "hearth.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    cloud = Server("--api-key", CLOUD_KEY, "-t", "1")
    proxy = FaultProxy(cloud.port)
    anth = FakeAnthropic(ANTH_KEY)
    cfg = config(tmp_path_factory.mktemp("cfg"), proxy.port, anth.port)
    gw = Server("--config", cfg, "-v", "-t", "1", env={"TEST_CLOUD_KEY": CLOUD_KEY, "TEST_ANTH_KEY": ANTH_KEY})
    yield gw, proxy, anth
    rc, err = gw.stop()
    proxy.close()
    anth.close()
    cloud.stop()
    assert rc == 0, err
    # Keys never reach the logs.
    assert CLOUD_KEY not in err and ANTH_KEY not in err


def chat(gw, model, stream=False, headers=None, content="Hi", **extra):
    body = dict({"model": model, "messages": [{"role": "user", "content": content}],
                 "max_tokens": 8, "temperature": 0, "stream": stream}, **extra)
    status, hdrs, raw = gw.request("POST", "/v1/chat/completions", body, headers)
    return status, hdrs, raw


def metric(gw, name, value):
    m = re.search(r'^%s\{[a-z]+="%s"\} (\d+)$' % (name, value), gw.metrics(), re.M)
    return int(m.group(1)) if m else 0


def test_threshold_zero_is_always_local(stack):
    gw, proxy, _ = stack
    proxy.mode = "pass"
    before = proxy.count()
    for stream in (False, True):
        status, hdrs, raw = chat(gw, "never-unsure", stream)
        assert status == 200 and hdrs["x-hearth-route"] == "local"
        assert 0.0 <= float(hdrs["x-hearth-confidence"]) <= 1.0
        doc = sse_events(raw)[-1] if stream else json.loads(raw)
        assert doc["hearth"]["route"] == "local" and doc["hearth"]["degraded"] is False
    assert proxy.count() == before


def test_threshold_one_is_always_cloud(stack):
    gw, proxy, _ = stack
    proxy.mode = "pass"
    before = proxy.count()
    status, hdrs, raw = chat(gw, "always-unsure")
    doc = json.loads(raw)
    assert status == 200 and hdrs["x-hearth-route"] == "cloud"
    h = doc["hearth"]
    assert h["route"] == "cloud" and h["escalation_reason"] == "low_confidence"
    assert h["upstream"] == "cloud" and h["upstream_ms"] > 0 and h["local_ms"] > 0
    assert doc["choices"][0]["message"]["content"]
    assert proxy.count() == before + 1
    # The key travels to the upstream, and nowhere else.
    assert proxy.requests[-1][1]["Authorization"] == "Bearer " + CLOUD_KEY
    sent = json.loads(proxy.requests[-1][2])
    assert sent["model"] == "stories260k" and sent["messages"] == HI


def test_default_threshold_escalates_the_story_model(stack):
    gw, proxy, _ = stack
    proxy.mode = "pass"
    status, hdrs, raw = chat(gw, "auto")
    assert status == 200
    assert float(hdrs["x-hearth-confidence"]) < 0.85
    assert hdrs["x-hearth-route"] == "cloud"


def test_streaming_holdback_never_leaks_local_tokens(stack):
    gw, proxy, _ = stack
    proxy.mode = "tag"  # every cloud chunk says model "cloud-model"
    status, hdrs, raw = chat(gw, "always-unsure", stream=True, max_tokens=20)
    assert status == 200 and hdrs["x-hearth-route"] == "cloud"
    events = sse_events(raw)
    assert events and all(e["model"] == "cloud-model" for e in events)
    assert b'"model":"stories260k"' not in raw
    assert events[-1]["hearth"]["route"] == "cloud"


def test_client_can_ask_for_local(stack):
    gw, proxy, _ = stack
    proxy.mode = "pass"
    status, hdrs, _ = chat(gw, "always-unsure", headers={"X-Hearth-Route": "local"})
    assert status == 200 and hdrs["x-hearth-route"] == "local"


@pytest.mark.parametrize("mode,reason", [
    ("delay", "timeout"), ("http500", "http_5xx"), ("http429", "http_429"),
    ("reset", "connect"), ("truncate", "malformed"), ("malformed", "malformed"),
    ("http400", "rejected"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_cloud_faults_degrade_to_local(stack, mode, reason, stream):
    gw, proxy, _ = stack
    proxy.mode = mode
    before = metric(gw, "hearth_degraded_total", reason)
    seen = proxy.count()
    status, hdrs, raw = chat(gw, "always-unsure", stream=stream, max_tokens=12)
    proxy.mode = "pass"
    assert status == 200, raw
    assert hdrs["x-hearth-route"] == "local" and hdrs["x-hearth-degraded"] == "true"
    doc = sse_events(raw)[-1] if stream else json.loads(raw)
    h = doc["hearth"]
    assert h["degraded"] is True and h["degraded_reason"] == reason
    if stream:
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in sse_events(raw)
                       if e.get("choices"))
    else:
        text = doc["choices"][0]["message"]["content"]
    assert text  # a valid local answer
    assert metric(gw, "hearth_degraded_total", reason) == before + 1
    if mode in ("http500", "http429", "delay"):
        assert proxy.count() - seen == 3  # the first try and two retries
    elif mode == "reset":
        # curl itself retries once when a reused connection turns out dead.
        assert 3 <= proxy.count() - seen <= 6


def test_upstream_refusals(stack):
    """A 400 is the request's fault: a route that can only answer from the
    upstream passes on what it said, as a 400, and no strike is counted
    against the circuit. Any other 4xx is a 502 that says nothing of what
    the upstream said (it may be about our key), and never shows the key."""
    gw, proxy, _ = stack
    proxy.mode = "http400"
    for pad in ("", "a", "ab", "abc"):  # the cut falls in each byte of a 2-byte character
        # and past the fragile upstream's 3 failures
        proxy.refusal = "Invalid 'messages[0].content': too long " + pad + "\u00e9" * 400
        status, _, raw = chat(gw, "cloud")
        chat(gw, "breaker")
        err = json.loads(raw)["error"]
        assert status == 400 and err["code"] == "upstream_rejected", err
        assert "rejected the request: HTTP 400: Invalid 'messages[0].content'" in err["message"]
        assert err["message"].endswith("\u00e9") and len(err["message"].encode()) < 400
    proxy.mode = "pass"
    seen = proxy.count()
    status, _, raw = chat(gw, "breaker")
    assert json.loads(raw)["hearth"]["degraded"] is False and proxy.count() == seen + 1
    proxy.refusal = "Incorrect API key provided: " + CLOUD_KEY
    proxy.mode = "http401"
    status, _, raw = chat(gw, "cloud")
    proxy.mode = "pass"
    assert status == 502 and b"HTTP 401" not in raw and CLOUD_KEY.encode() not in raw, raw


def test_upstream_without_stream_options(stack):
    """An upstream that rejects stream_options (which hearth adds to learn a
    stream's cost) is asked again without it, and from then on never with."""
    gw, proxy, _ = stack
    proxy.mode = "old_server"
    try:
        for extra_tries in (1, 0):
            seen = proxy.count()
            status, hdrs, raw = chat(gw, "breaker", stream=True)
            assert status == 200 and hdrs["x-hearth-route"] == "cloud", raw
            assert sse_events(raw)[-1]["hearth"]["degraded"] is False
            assert proxy.count() - seen == 1 + extra_tries
        # A client that asks for usage itself gets the upstream's refusal.
        status, hdrs, raw = chat(gw, "breaker", stream=True,
                                 stream_options={"include_usage": True})
        (last,) = [e for e in sse_events(raw) if "hearth" in e]
        assert status == 200 and last["hearth"]["degraded_reason"] == "rejected"
    finally:
        proxy.mode = "pass"


def test_retry_after_ms_wins(stack):
    """retry-after-ms is honoured over a coarser Retry-After: 5 s would be
    past the call's 4 s total, so no retry would be tried at all."""
    gw, proxy, _ = stack
    proxy.mode = "http429ms"
    seen = proxy.count()
    t0 = time.monotonic()
    status, _, raw = chat(gw, "cloud")
    took = time.monotonic() - t0
    proxy.mode = "pass"
    assert status == 502 and json.loads(raw)["error"]["code"] == "upstream_failed", raw
    assert proxy.count() - seen == 3 and 0.08 <= took < 2.0, (proxy.count() - seen, took)


def test_pregate(stack):
    gw, proxy, _ = stack
    proxy.mode = "pass"
    status, hdrs, raw = chat(gw, "gated", content="Please translate this")
    assert json.loads(raw)["hearth"]["escalation_reason"] == "pregate_pattern"
    status, hdrs, raw = chat(gw, "gated", content="word " * 80)
    assert json.loads(raw)["hearth"]["escalation_reason"] == "pregate_length"
    status, hdrs, raw = chat(gw, "gated", content="short")
    assert hdrs["x-hearth-route"] == "local"


def test_cloud_only_and_local_only(stack):
    gw, proxy, _ = stack
    proxy.mode = "pass"
    assert chat(gw, "cloud")[1]["x-hearth-route"] == "cloud"
    assert chat(gw, "fallback")[1]["x-hearth-route"] == "local"
    seen = proxy.count()
    assert chat(gw, "private")[1]["x-hearth-route"] == "local"
    status, hdrs, raw = chat(gw, "private", stream=True)
    assert hdrs["x-hearth-route"] == "local" and sse_events(raw)[-1]["hearth"]["route"] == "local"
    assert chat(gw, "fallback", stream=True)[1]["x-hearth-route"] == "local"
    assert proxy.count() == seen
    proxy.mode = "http500"
    status, _, raw = chat(gw, "cloud")
    proxy.mode = "pass"
    err = json.loads(raw)["error"]
    assert status == 502 and err["code"] == "upstream_failed"


def test_anthropic_adapter(stack):
    gw, _, anth = stack
    body = {"model": "claude", "max_tokens": 50, "temperature": 0.5, "stop": "END",
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "Hello"}]}
    status, hdrs, raw = gw.request("POST", "/v1/chat/completions", body)
    doc = json.loads(raw)
    assert status == 200, doc
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"] == {"role": "assistant", "content": "Hello from Claude."}
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"] == {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    headers, sent = anth.seen[-1]
    assert sent["system"] == "Be brief." and sent["messages"] == [{"role": "user", "content": "Hello"}]
    assert sent["max_tokens"] == 50 and sent["stop_sequences"] == ["END"] and sent["model"] == "claude-test"
    assert headers["x-api-key"] == ANTH_KEY
    status, hdrs, raw = gw.request("POST", "/v1/chat/completions", dict(body, stream=True))
    events = sse_events(raw)
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
    assert text == "Hello from Claude."
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert not any(e.get("usage") for e in events)  # not asked for
    body.update(stream=True, stream_options={"include_usage": True})
    status, hdrs, raw = gw.request("POST", "/v1/chat/completions", body)
    events = sse_events(raw)
    assert events[-1]["choices"] == [] and events[-1]["usage"] == {
        "prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def tool_calls_of(events):
    """The tool calls a stream's chunks add up to, as a client assembles
    them: by index, id and name from the first piece, arguments joined."""
    calls = {}
    for e in events:
        for tc in e["choices"][0]["delta"].get("tool_calls") or []:
            c = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
            c["id"] = tc.get("id") or c["id"]
            f = tc.get("function") or {}
            c["name"] = f.get("name") or c["name"]
            c["arguments"] += f.get("arguments") or ""
    return [calls[k] for k in sorted(calls)]


def test_anthropic_tools(stack):
    """Function tools through the Anthropic adapter: the tools, the choice,
    a tool_use answer (whole and streamed) and the turn that answers it."""
    gw, _, anth = stack
    body = {"model": "claude", "max_tokens": 50, "tools": [WEATHER], "tool_choice": "required",
            "parallel_tool_calls": False,
            "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    status, _, doc = gw.json("POST", "/v1/chat/completions", body)
    assert status == 200, doc
    _, sent = anth.seen[-1]
    assert sent["tools"] == [{"name": "get_weather", "description": "Weather for a city.",
                              "input_schema": WEATHER["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    choice = doc["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None  # a forced call has no text
    call = choice["message"]["tool_calls"][0]
    assert call["id"] == "toolu_01" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == FakeAnthropic.TOOL_INPUT

    status, _, raw = gw.request("POST", "/v1/chat/completions", dict(body, stream=True))
    assert status == 200, raw
    events = sse_events(raw)
    calls = tool_calls_of(events)
    assert [(c["id"], c["name"]) for c in calls] == [("toolu_01", "get_weather")]
    assert json.loads(calls[0]["arguments"]) == FakeAnthropic.TOOL_INPUT
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"

    body["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "18 C, clear"}]
    body["tool_choice"] = {"type": "function", "function": {"name": "get_weather"}}
    status, _, doc = gw.json("POST", "/v1/chat/completions", body)
    assert status == 200, doc
    _, sent = anth.seen[-1]
    assert sent["tool_choice"] == {"type": "tool", "name": "get_weather",
                                   "disable_parallel_tool_use": True}
    assert sent["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01",
                                           "name": "get_weather",
                                           "input": FakeAnthropic.TOOL_INPUT}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01",
                                      "content": "18 C, clear"}]}]
    assert doc["choices"][0]["message"]["content"] == "Tool said: 18 C, clear"
    status, _, doc = gw.json("POST", "/v1/chat/completions", dict(body, tool_choice="auto"))
    assert doc["choices"][0]["message"]["content"] == "Tool said: 18 C, clear"
    n = len(anth.seen)
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    status, _, doc = gw.json("POST", "/v1/chat/completions", dict(body, response_format=fmt))
    assert status == 502 and "cannot carry" in doc["error"]["message"], doc
    custom = dict(body, tools=[WEATHER, {"type": "custom", "custom": {"name": "grep"}}])
    status, _, doc = gw.json("POST", "/v1/chat/completions", custom)
    assert status == 502 and "cannot carry" in doc["error"]["message"], doc
    status, _, doc = gw.json("POST", "/v1/chat/completions", dict(body, n=2))
    assert status == 502 and "cannot carry" in doc["error"]["message"], doc
    assert len(anth.seen) == n  # refused here, not sent without the format or the tool


def test_anthropic_images(stack):
    """Image parts become image blocks: a data: URL a base64 source, any
    other URL a url source; the text parts stay in order around them."""
    gw, _, anth = stack
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    parts = [{"type": "text", "text": "What is in these?"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png}},
             {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg",
                                                 "detail": "low"}}]
    status, hdrs, doc = gw.json("POST", "/v1/chat/completions", {
        "model": "claude-vision", "messages": [{"role": "user", "content": parts}]})
    assert status == 200, doc
    _, sent = anth.seen[-1]
    assert sent["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]}]
    assert doc["hearth"]["privacy"]["pii_found"] == 2  # two images, let through by policy
    # The built-in policy keeps images here: nothing can be checked in them.
    n = len(anth.seen)
    status, _, doc = gw.json("POST", "/v1/chat/completions", {
        "model": "claude", "messages": [{"role": "user", "content": parts}]})
    assert status == 403 and doc["error"]["code"] == "data_blocked", doc
    assert "image" in doc["error"]["message"] and len(anth.seen) == n


def test_anthropic_json_schema(stack):
    """A JSON schema response format goes to Anthropic as the one tool the
    model must call; its input comes back as the message content (whole and
    streamed), an ordinary stop, no tool calls."""
    gw, _, anth = stack
    schema = {"type": "object", "properties": {"city": {"type": "string"},
                                               "units": {"type": "string"}}}
    body = {"model": "claude", "messages": HI, "response_format": {
        "type": "json_schema", "json_schema": {"name": "place", "schema": schema, "strict": True}}}
    status, _, doc = gw.json("POST", "/v1/chat/completions", body)
    assert status == 200, doc
    _, sent = anth.seen[-1]
    assert [t["name"] for t in sent["tools"]] == ["place"]
    assert sent["tools"][0]["input_schema"] == schema
    assert sent["tool_choice"] == {"type": "tool", "name": "place"}
    choice = doc["choices"][0]
    assert json.loads(choice["message"]["content"]) == FakeAnthropic.TOOL_INPUT
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"
    status, _, raw = gw.request("POST", "/v1/chat/completions", dict(body, stream=True))
    events = sse_events(raw)
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert json.loads(text) == FakeAnthropic.TOOL_INPUT
    assert not tool_calls_of([e for e in events if e["choices"]])
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_tools_need_an_upstream(stack):
    """The local model cannot call tools (nor follow a JSON schema): a route
    escalates such a request before generating anything; where only local
    can answer, it is a 400."""
    gw, _, _ = stack
    status, hdrs, doc = gw.json("POST", "/v1/chat/completions", {
        "model": "claude-first", "tools": [WEATHER], "messages": HI})
    assert status == 200, doc
    assert hdrs["x-hearth-route"] == "cloud" and hdrs["x-hearth-escalation-reason"] == "tools"
    assert doc["hearth"]["escalation_reason"] == "tools" and doc["hearth"]["confidence"] is None
    assert doc["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert 'hearth_escalations_total{reason="tools"}' in gw.metrics()
    for model in ("stories260k", "private"):
        status, _, doc = gw.json("POST", "/v1/chat/completions", {
            "model": model, "tools": [WEATHER], "messages": HI})
        assert status == 400 and doc["error"]["param"] == "tools", doc
        assert "cannot use tools" in doc["error"]["message"]
    status, _, doc = gw.json("POST", "/v1/chat/completions", {
        "model": "claude-first", "tools": [WEATHER], "messages": HI},
        {"X-Hearth-Route": "local"})
    assert status == 400 and doc["error"]["param"] == "tools", doc
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    status, _, doc = gw.json("POST", "/v1/chat/completions", {
        "model": "stories260k", "response_format": fmt, "messages": HI})
    assert status == 400 and doc["error"]["param"] == "response_format", doc
    assert "json_schema" in doc["error"]["message"]
    img = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    status, _, doc = gw.json("POST", "/v1/chat/completions", {
        "model": "stories260k", "messages": [{"role": "user", "content": img}]})
    assert status == 400 and doc["error"]["param"] == "messages", doc
    assert "image inputs" in doc["error"]["message"]
    # "auto" with no tools is harmless: local answers.
    status, _, doc = gw.json("POST", "/v1/chat/completions", {
        "model": "stories260k", "tools": [], "tool_choice": "auto", "messages": HI, "max_tokens": 4})
    assert status == 200, doc
    # tool_choice "none": the tools will not be called, so local may answer.
    status, hdrs, doc = gw.json("POST", "/v1/chat/completions", {
        "model": "stories260k", "tools": [WEATHER], "tool_choice": "none", "messages": HI,
        "max_tokens": 4})
    assert status == 200, doc
    bad = [({"tools": {}}, "tools", "must be an array"),
           ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools", "name"),
           ({"tools": [{"function": {"name": "f"}}]}, "tools", "tools[0]"),
           ({"tools": [{"type": "function"}]}, "tools", "tools[0]"),
           ({"tools": [WEATHER], "tool_choice": "always"}, "tool_choice", "tool_choice"),
           ({"tool_choice": "required"}, "tool_choice", "needs 'tools'"),
           ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice",
            "needs 'tools'"),
           ({"response_format": {"type": "json_schema"}}, "response_format.json_schema", "name"),
           ({"messages": HI + [{"role": "tool", "content": "x"}]}, "messages", "tool_call_id"),
           ({"messages": HI + [{"role": "assistant", "content": None,
                                "tool_calls": [{"id": "c1", "function": {"name": "f"}}]}]},
            "messages", "arguments")]
    for extra, param, words in bad:
        status, _, doc = gw.json("POST", "/v1/chat/completions",
                                 dict({"model": "claude", "messages": HI}, **extra))
        assert status == 400 and doc["error"]["param"] == param, (extra, doc)
        assert words in doc["error"]["message"], doc


def test_routes_answer_chat_only(stack):
    """A route is listed in /v1/models; asked of the other endpoints it is
    named as a route (400), not called a model that does not exist."""
    gw, _, _ = stack
    for path, body in (("/v1/completions", {"prompt": "Hi"}), ("/v1/embeddings", {"input": "Hi"})):
        status, _, doc = gw.json("POST", path, dict(body, model="auto"))
        assert status == 400 and doc["error"]["param"] == "model", doc
        assert "route" in doc["error"]["message"] and "chat/completions" in doc["error"]["message"]
    status, _, doc = gw.json("POST", "/v1/completions", {"prompt": "Hi", "model": "nope"})
    assert status == 404 and doc["error"]["code"] == "model_not_found"


def test_keys_never_leak(stack):
    gw, proxy, _ = stack
    for path in ("/v1/models", "/metrics", "/health"):
        _, _, raw = gw.request("GET", path)
        assert CLOUD_KEY.encode() not in raw and ANTH_KEY.encode() not in raw
    proxy.mode = "http500"
    _, _, raw = chat(gw, "cloud")
    proxy.mode = "pass"
    assert CLOUD_KEY.encode() not in raw


def test_circuit_breaker_opens(stack):
    gw, proxy, _ = stack
    proxy.mode = "http500"
    for _ in range(3):  # three failed calls (each with its retries) open the circuit
        chat(gw, "breaker")
    seen = proxy.count()
    status, hdrs, raw = chat(gw, "breaker")
    proxy.mode = "pass"
    assert status == 200 and json.loads(raw)["hearth"]["degraded_reason"] == "circuit_open"
    assert proxy.count() == seen  # not even tried
    # With no local answer: 503 and how long the circuit stays open, not a 502.
    status, hdrs, raw = chat(gw, "fragile-only")
    assert status == 503 and json.loads(raw)["error"]["code"] == "upstream_unavailable", raw
    assert 2 <= int(hdrs["retry-after"]) <= 60 and proxy.count() == seen


def test_live_cloud_stream(stack):
    """cloud_stream: live passes chunks on as they come; a stream that then
    breaks cannot be replaced, so it ends with an error event."""
    gw, proxy, _ = stack
    proxy.mode = "tag"
    status, hdrs, raw = chat(gw, "live", stream=True)
    assert status == 200 and hdrs["x-hearth-route"] == "cloud"
    assert all(e["model"] == "cloud-model" for e in sse_events(raw))
    proxy.mode = "truncate"
    status, hdrs, raw = chat(gw, "live", stream=True, max_tokens=30)
    proxy.mode = "pass"
    assert status == 200
    assert b'"type":"upstream_error"' in raw


@pytest.mark.parametrize("route", ["cloud", "live"])
def test_stream_ends_at_the_end_marker(stack, route):
    """A streamed answer is over when the upstream's [DONE] arrives, not when
    its connection is: the client gets the end at once, its next request on
    the same connection is not held behind the upstream's, and a reset after
    [DONE] loses nothing."""
    import time
    gw, proxy, _ = stack
    proxy.mode, proxy.delay_s = "linger", 2.5
    before = metric(gw, "hearth_degraded_total", "malformed")
    body = json.dumps({"model": route, "messages": HI, "max_tokens": 8, "stream": True})
    c = gw.conn(10)
    t0 = time.monotonic()
    try:
        answers = []
        for _ in range(2):  # one keep-alive connection
            c.request("POST", "/v1/chat/completions", body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            answers.append((r.status, r.getheader("x-hearth-route"), r.read()))
        elapsed = time.monotonic() - t0
    finally:
        c.close()
        proxy.mode, proxy.delay_s = "pass", 3.0
    assert elapsed < 2.0, elapsed  # each upstream lingers 2.5 s
    for status, route_hdr, raw in answers:
        assert status == 200 and route_hdr == "cloud"
        assert raw.endswith(b"data: [DONE]\n\n") and b"upstream_error" not in raw
        assert sse_events(raw)[-1]["hearth"]["degraded"] is False
    time.sleep(2.5)  # the resets have come and gone
    assert metric(gw, "hearth_degraded_total", "malformed") == before


def test_local_overloaded_goes_to_cloud(tmp_path):
    """One slot and a queue of one: requests beyond them go to the cloud
    (local_first allows it) instead of getting 503."""
    import threading
    # One compute thread each: two servers spinning two OpenMP threads apiece
    # on a two-core machine slow each other down by orders of magnitude.
    cloud = Server("-t", "1")
    cfg = tmp_path / "busy.yaml"
    cfg.write_text("upstreams:\n  cloud: {base_url: 'http://127.0.0.1:%d/v1', model: stories260k}\n"
                   "routes:\n  auto: {policy: local_first, upstream: cloud, threshold: 0}\n"
                   "  private: {policy: local_only}\n" % cloud.port)
    gw = Server("--config", str(cfg), "--parallel", "1", "--queue", "1", "-t", "1")
    try:
        results = []

        def one(model):
            st, hdrs, raw = chat(gw, model, max_tokens=600, ignore_eos=True)
            results.append((model, st, json.loads(raw)))

        threads = [threading.Thread(target=one, args=("auto",)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(st == 200 for _, st, _ in results), results
        reasons = [doc["hearth"]["escalation_reason"] for _, _, doc in results]
        assert reasons.count("local_overloaded") >= 1
        assert any(doc["hearth"]["route"] == "local" for _, _, doc in results)
        # local_only has nowhere to go: 503 with Retry-After when full.
        threads = [threading.Thread(target=one, args=("private",)) for _ in range(6)]
        results.clear()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(st for _, st, _ in results)
        assert 503 in statuses and 200 in statuses
    finally:
        assert gw.stop()[0] == 0
        cloud.stop()
