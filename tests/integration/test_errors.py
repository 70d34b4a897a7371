# test_errors.py -- every error path of `hearth serve` in the OpenAI error
# shape, the limits, API keys, the queue bound, and slow clients.
import json
import socket
import time

import pytest

from conftest import Server, read_to_eof

CHAT = "/v1/chat/completions"
COMP = "/v1/completions"
HI = [{"role": "user", "content": "Hi"}]


def assert_error(status, doc, want_status, code=None, param=None):
    assert status == want_status, doc
    err = doc["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    if code:
        assert err["code"] == code, err
    if param:
        assert err["param"] == param, err
    return err


@pytest.mark.parametrize("path,body,status,code,param", [
    (CHAT, '{"messages": [', 400, "invalid_json", None),
    (CHAT, '[1, 2]', 400, "invalid_json", None),
    (CHAT, '', 400, "invalid_json", None),
    (CHAT, {"model": "stories260k"}, 400, "missing_required_parameter", "messages"),
    (CHAT, {"messages": []}, 400, None, "messages"),
    (CHAT, {"messages": "hi"}, 400, None, "messages"),
    (CHAT, {"messages": [{"role": "wizard", "content": "x"}]}, 400, None, "messages"),
    (CHAT, {"messages": [{"role": "user", "content": 5}]}, 400, None, "messages"),
    (CHAT, {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, None,
     "messages"),
    (CHAT, {"messages": HI, "temperature": "hot"}, 400, None, "temperature"),
    (CHAT, {"messages": HI, "temperature": 3}, 400, None, "temperature"),
    (CHAT, {"messages": HI, "top_p": 1.5}, 400, None, "top_p"),
    (CHAT, {"messages": HI, "max_tokens": 0}, 400, None, "max_tokens"),
    (CHAT, {"messages": HI, "max_tokens": -5}, 400, None, "max_tokens"),
    (CHAT, {"messages": HI, "max_tokens": 2.5}, 400, None, "max_tokens"),
    (CHAT, {"messages": HI, "n": 2}, 400, None, "n"),
    (CHAT, {"messages": HI, "n": 0}, 400, None, "n"),
    (CHAT, {"messages": HI, "n": 129}, 400, None, "n"),
    (CHAT, {"messages": HI, "stream": "yes"}, 400, None, "stream"),
    (CHAT, {"messages": HI, "stop": 7}, 400, None, "stop"),
    (CHAT, {"messages": HI, "stop": ["a"] * 9}, 400, None, "stop"),
    (CHAT, {"messages": HI, "top_logprobs": 3}, 400, None, "top_logprobs"),
    (CHAT, {"messages": HI, "logprobs": True, "top_logprobs": 21}, 400, None, "top_logprobs"),
    (CHAT, {"messages": HI, "response_format": {"type": "xml"}}, 400, None,
     "response_format.type"),
    (CHAT, {"messages": HI, "model": 12}, 400, None, "model"),
    (CHAT, {"messages": HI, "presence_penalty": 9}, 400, None, "presence_penalty"),
    (COMP, {"max_tokens": 4}, 400, "missing_required_parameter", "prompt"),
    (COMP, {"prompt": ["a", "b"]}, 400, None, "prompt"),
    (COMP, {"prompt": {"x": 1}}, 400, None, "prompt"),
    (COMP, {"prompt": "x", "echo": True}, 400, None, "echo"),
    (COMP, {"prompt": "x", "logprobs": 50}, 400, None, "logprobs"),
    ("/v1/embeddings", {"input": ""}, 400, None, "input"),
    ("/v1/embeddings", {"input": []}, 400, None, "input"),
    ("/v1/embeddings", {}, 400, "missing_required_parameter", "input"),
    ("/v1/embeddings", {"input": "x", "encoding_format": "hex"}, 400, None, "encoding_format"),
])
def test_bad_requests(server, path, body, status, code, param):
    st, _, raw = server.request("POST", path, body)
    assert_error(st, json.loads(raw), status, code, param)


def test_unknown_fields_are_ignored(server):
    st, _, doc = server.json("POST", CHAT, {"messages": HI, "max_tokens": 2, "frobnicate": 1,
                                            "tools": [], "user": "u1"})
    assert st == 200 and doc["choices"][0]["message"]["role"] == "assistant"


def test_unknown_model_is_404(server):
    st, _, doc = server.json("POST", CHAT, {"model": "gpt-9", "messages": HI})
    assert_error(st, doc, 404, "model_not_found", "model")
    # The served model answers to its id and to its file name.
    for name in ("stories260k", "stories260k.gguf"):
        assert server.json("POST", CHAT, {"model": name, "messages": HI, "max_tokens": 1})[0] == 200


def test_context_length_exceeded(server):
    long_prompt = "Once upon a time " * 600  # > 2048 tokens
    st, _, doc = server.json("POST", COMP, {"prompt": long_prompt, "max_tokens": 5})
    assert_error(st, doc, 400, "context_length_exceeded")
    st, _, doc = server.json("POST", COMP, {"prompt": "Once upon a time", "max_tokens": 2045})
    assert_error(st, doc, 400, "context_length_exceeded")
    assert "2048" in doc["error"]["message"]


def test_not_found_and_method_not_allowed(server):
    st, _, doc = server.json("GET", "/v1/nothing")
    assert_error(st, doc, 404)
    st, hdrs, raw = server.request("GET", CHAT)
    assert_error(st, json.loads(raw), 405)
    assert hdrs["allow"] == "POST"
    st, hdrs, raw = server.request("DELETE", "/v1/models")
    assert st == 405 and hdrs["allow"] == "GET"


def raw_exchange(port, data, read_timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    s.sendall(data)
    out = read_to_eof(s)
    s.close()
    return out


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, head.decode(), body


def test_body_too_large_is_413(server):
    big = b'{"prompt":"' + b"a" * (9 << 20) + b'"}'
    req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(big))
    status, head, body = split_response(raw_exchange(server.port, req))
    assert status == 413
    assert_error(status, json.loads(body), 413)
    # Chunked bodies are counted too.
    req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(req)
    chunk = b"a" * (1 << 20)
    out = b""
    try:
        for _ in range(10):
            s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        out = s.recv(65536)
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    assert out.startswith(b"HTTP/1.1 413"), out[:100]


def test_headers_too_large_is_431(server):
    req = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (20 << 10) + b"\r\n\r\n"
    status, _, body = split_response(raw_exchange(server.port, req))
    assert_error(status, json.loads(body), 431)


def test_malformed_http_is_400(server):
    status, _, body = split_response(raw_exchange(server.port, b"HELLO WORLD\r\n\r\n"))
    assert_error(status, json.loads(body), 400)


def test_chunked_request_body_works(server):
    body = b'{"prompt":"Once upon a time","max_tokens":3,"temperature":0}'
    req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    status, _, raw = split_response(raw_exchange(server.port, req))
    assert status == 200
    assert json.loads(raw)["usage"]["completion_tokens"] == 3


def test_slow_client_gets_408():
    s = Server("--read-timeout-ms", "300")
    try:
        t0 = time.time()
        out = raw_exchange(s.port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
        status, _, body = split_response(out)
        assert_error(status, json.loads(body), 408)
        assert time.time() - t0 < 5
        # Headers sent, body promised but never finished.
        out = raw_exchange(s.port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Length: 100\r\n\r\n{\"prompt\"")
        assert split_response(out)[0] == 408
    finally:
        assert s.stop()[0] == 0


def test_api_keys(tmp_path):
    keyfile = tmp_path / "keys"
    keyfile.write_text("# ops team\nsecond-key\n")
    s = Server("--api-key", "first-key", "--api-key-file", str(keyfile))
    try:
        body = {"prompt": "Hi", "max_tokens": 1}
        st, _, doc = s.json("POST", COMP, body)
        assert_error(st, doc, 401, "invalid_api_key")
        st, _, doc = s.json("POST", COMP, body, {"Authorization": "Bearer wrong"})
        assert_error(st, doc, 401)
        st, _, doc = s.json("GET", "/v1/models", None, {"Authorization": "first-key"})
        assert_error(st, doc, 401)
        for key in ("first-key", "second-key"):
            assert s.json("POST", COMP, body, {"Authorization": "Bearer " + key})[0] == 200
        assert s.request("GET", "/health")[0] == 200  # health stays open for probes
        # Headers that arrive a few bytes at a time, one with an empty value
        # before the key, are put together whole.
        body = json.dumps(body).encode()
        req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n"
               b"Content-Type: application/json\r\nAuthoriz" b"ation: Bearer second-key\r\n"
               b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(req), 5):
            c.sendall(req[i:i + 5])
            time.sleep(0.002)
        status, _, raw = split_response(read_to_eof(c))
        c.close()
        assert status == 200, raw
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
        out = raw_exchange(s.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert split_response(out)[0] == 431
    finally:
        rc, err = s.stop()
        assert rc == 0
        assert "first-key" not in err and "second-key" not in err


def test_queue_full_is_503_with_retry_after():
    """One slot and a queue of one: of eight requests sent at once, one runs,
    one waits, and the rest are refused at once with 503 and Retry-After."""
    s = Server("--parallel", "1", "--queue", "1")
    socks = []
    try:
        body = json.dumps({"prompt": "Once upon a time", "max_tokens": 2000,
                           "ignore_eos": True}).encode()
        req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        for _ in range(8):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=60)
            c.sendall(req)
            socks.append(c)
        statuses = []
        for c in socks:
            status, head, rest = split_response(read_to_eof(c))
            statuses.append(status)
            if status == 503:
                assert "Retry-After: 1" in head
                assert_error(status, json.loads(rest), 503)
        assert statuses.count(200) >= 2 and statuses.count(503) >= 1, statuses
        assert set(statuses) <= {200, 503}
    finally:
        for c in socks:
            c.close()
        assert s.stop()[0] == 0
