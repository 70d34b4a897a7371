# test_api.py -- the OpenAI endpoints of a real `hearth serve` on loopback:
# shapes, streaming framing, stream/non-stream agreement, usage, logprobs,
# embeddings, models, health and metrics.
import base64
import math
import struct

from conftest import REFERENCE, sse_events, sse_text

CHAT = "/v1/chat/completions"
COMP = "/v1/completions"


def test_completion_reference_and_usage(server):
    status, hdrs, doc = server.json("POST", COMP, {
        "prompt": "Once upon a time", "max_tokens": 40, "temperature": 0})
    assert status == 200
    assert hdrs["content-type"] == "application/json"
    assert doc["object"] == "text_completion"
    assert doc["model"] == "stories260k"
    ch = doc["choices"][0]
    assert ch["text"] == REFERENCE
    assert ch["finish_reason"] == "length"
    assert ch["index"] == 0
    u = doc["usage"]
    assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) == (5, 40, 45)


def test_completion_default_max_tokens_is_16(server):
    _, _, doc = server.json("POST", COMP, {"prompt": "Once upon a time", "temperature": 0})
    assert doc["usage"]["completion_tokens"] == 16
    assert doc["choices"][0]["finish_reason"] == "length"


def test_prompt_forms(server):
    a = server.json("POST", COMP, {"prompt": ["Once upon a time"], "max_tokens": 8,
                                   "temperature": 0})[2]
    b = server.json("POST", COMP, {"prompt": [1, 100, 200], "max_tokens": 8,
                                   "temperature": 0})[2]
    assert a["choices"][0]["text"] == REFERENCE[:len(a["choices"][0]["text"])]
    assert b["usage"]["prompt_tokens"] == 3
    status, _, err = server.json("POST", COMP, {"prompt": [1, 100, 512], "max_tokens": 2})
    assert status == 400 and err["error"]["param"] == "prompt"


def test_stream_equals_non_stream(server):
    for path, chat in ((COMP, False), (CHAT, True)):
        body = {"max_tokens": 30, "temperature": 0}
        if chat:
            body["messages"] = [{"role": "system", "content": "You tell stories."},
                                {"role": "user", "content": "Tell me about a dog"}]
        else:
            body["prompt"] = "The little dog"
        _, _, whole = server.json("POST", path, body)
        status, hdrs, raw = server.stream(path, dict(body, stream=True))
        assert status == 200
        assert hdrs["content-type"] == "text/event-stream"
        assert hdrs.get("transfer-encoding") == "chunked"
        text = whole["choices"][0]["message"]["content"] if chat else whole["choices"][0]["text"]
        assert sse_text(raw, chat) == text
        events = sse_events(raw)
        assert events[-1]["choices"][0]["finish_reason"] == "length"
        assert all(e["id"] == events[0]["id"] for e in events)
        assert events[0]["object"] == ("chat.completion.chunk" if chat else "text_completion")


def test_stream_include_usage(server):
    _, _, raw = server.stream(CHAT, {
        "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 7, "temperature": 0,
        "stream": True, "stream_options": {"include_usage": True}})
    events = sse_events(raw)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    last = events[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 7
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 7


def test_chat_content_parts_and_developer_role(server):
    a = server.json("POST", CHAT, {"messages": [
        {"role": "developer", "content": "Be kind."},
        {"role": "user", "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]}],
        "max_tokens": 6, "temperature": 0})[2]
    b = server.json("POST", CHAT, {"messages": [
        {"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello"}],
        "max_tokens": 6, "temperature": 0})[2]
    assert a["choices"][0]["message"] == b["choices"][0]["message"]
    assert a["choices"][0]["message"]["role"] == "assistant"
    assert a["usage"]["prompt_tokens"] == b["usage"]["prompt_tokens"]


def test_chat_logprobs(server):
    _, _, doc = server.json("POST", CHAT, {
        "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "temperature": 0,
        "logprobs": True, "top_logprobs": 3})
    content = doc["choices"][0]["logprobs"]["content"]
    assert len(content) == 6
    text = ""
    for e in content:
        assert e["logprob"] <= 0
        assert len(e["top_logprobs"]) == 3
        assert e["top_logprobs"][0]["token"] == e["token"]  # greedy picks the top one
        assert abs(e["top_logprobs"][0]["logprob"] - e["logprob"]) < 1e-6
        assert bytes(e["bytes"]).decode("utf-8", "replace") == e["token"]
        text += e["token"]
    assert text == doc["choices"][0]["message"]["content"]
    # Streamed, each token chunk carries its own entry.
    _, _, raw = server.stream(CHAT, {
        "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "temperature": 0,
        "logprobs": True, "stream": True})
    lp = [c["choices"][0]["logprobs"]["content"][0]["logprob"]
          for c in sse_events(raw)[1:-1]]
    assert [round(x, 5) for x in lp] == [round(e["logprob"], 5) for e in content]


def test_completion_logprobs_legacy_shape(server):
    _, _, doc = server.json("POST", COMP, {"prompt": "Once upon a time", "max_tokens": 5,
                                           "temperature": 0, "logprobs": 2})
    lp = doc["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == 5
    assert lp["text_offset"][0] == 0
    assert "".join(lp["tokens"]) == doc["choices"][0]["text"]
    for tok, top in zip(lp["tokens"], lp["top_logprobs"]):
        assert len(top) == 2 and tok in top


def test_stop_and_max_completion_tokens(server):
    _, _, doc = server.json("POST", COMP, {"prompt": "Once upon a time", "max_tokens": 40,
                                           "temperature": 0, "stop": ["irl named"]})
    assert doc["choices"][0]["text"] == ", there was a little g"
    assert doc["choices"][0]["finish_reason"] == "stop"
    _, _, doc = server.json("POST", COMP, {"prompt": "Once upon a time", "temperature": 0,
                                           "max_completion_tokens": 3})
    assert doc["usage"]["completion_tokens"] == 3


def test_seed_reproducible(server):
    body = {"prompt": "Once upon a time", "max_tokens": 20, "temperature": 1, "seed": 11}
    a = server.json("POST", COMP, body)[2]["choices"][0]["text"]
    b = server.json("POST", COMP, body)[2]["choices"][0]["text"]
    assert a == b


def test_json_object_response_format(server):
    _, _, doc = server.json("POST", CHAT, {
        "messages": [{"role": "user", "content": "Give me JSON"}], "max_tokens": 40,
        "temperature": 0, "response_format": {"type": "json_object"}})
    assert doc["choices"][0]["message"]["content"].startswith("{")


def test_embeddings(server):
    _, _, doc = server.json("POST", "/v1/embeddings", {"input": ["hello world", "a cat"],
                                                       "model": "stories260k"})
    assert doc["object"] == "list"
    assert [d["index"] for d in doc["data"]] == [0, 1]
    v = doc["data"][0]["embedding"]
    assert len(v) == 64
    assert abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4
    assert doc["usage"]["prompt_tokens"] > 0
    _, _, b64 = server.json("POST", "/v1/embeddings", {"input": "hello world",
                                                       "encoding_format": "base64"})
    raw = base64.b64decode(b64["data"][0]["embedding"])
    w = struct.unpack("<64f", raw)
    assert max(abs(x - y) for x, y in zip(v, w)) < 1e-6


def test_models(server):
    _, _, doc = server.json("GET", "/v1/models")
    assert doc["object"] == "list" and doc["data"][0]["id"] == "stories260k"
    assert doc["data"][0]["object"] == "model"
    status, _, one = server.json("GET", "/v1/models/stories260k")
    assert status == 200 and one["id"] == "stories260k"
    status, _, err = server.json("GET", "/v1/models/nope")
    assert status == 404 and err["error"]["code"] == "model_not_found"


def test_health_and_metrics(server):
    status, _, doc = server.json("GET", "/health")
    assert status == 200 and doc["status"] == "ok"
    m = server.metrics()
    for name in ("hearth_requests_total{endpoint=\"/v1/completions\",status=\"200\"}",
                 "hearth_tokens_out_total", "hearth_slots_busy", "hearth_queue_depth",
                 "hearth_ttft_seconds_bucket", "hearth_request_duration_seconds_count"):
        assert name in m, name


def test_keep_alive_two_requests_one_connection(server):
    c = server.conn()
    for _ in range(2):
        c.request("POST", COMP, body='{"prompt":"Hi","max_tokens":2}',
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200
        r.read()
    c.close()


def test_expect_100_continue_is_answered(server):
    """curl sends Expect: 100-continue for bodies over 1 KiB and waits a
    second for the interim answer; the server must give it at once."""
    import json as _json
    import socket
    import time
    body = _json.dumps({"prompt": "Once upon a time " * 100, "max_tokens": 2}).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    t0 = time.time()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    interim = s.recv(100)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert time.time() - t0 < 0.5
    s.sendall(body)
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    s.close()
