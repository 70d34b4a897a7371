# fakes.py -- stand-ins for the routing tests, all on 127.0.0.1:
#   FaultProxy  forwards to a real upstream (another hearth serve) and can
#               delay, fail with 500 or 429 + Retry-After, reset the
#               connection, truncate or garble the stream, or tag chunks.
#   BigStream   an OpenAI-compatible upstream that streams a large answer
#               as fast as its socket takes it, counting what it sent.
#   FakeAnthropic  speaks Anthropic's Messages API (request shape, x-api-key,
#               anthropic-version, the streaming event types) from the public
#               reference, so the adapter is checked both ways.
import http.client
import http.server
import json
import socket
import threading
import time


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))


class _Fake:
    """A stand-in served on a free loopback port from a thread of its own."""

    def _serve(self, handler):
        self.server = _Server(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FaultProxy(_Fake):
    """mode: 'pass', 'delay', 'http500', 'http429', 'reset', 'truncate',
    'malformed', 'tag' (rewrite each answer's model to 'cloud-model'),
    'linger' (a stream's whole answer, then delay_s before the connection is
    reset instead of closed)."""

    refusal = "no"  # what a 400/401 answer says

    def __init__(self, target_port):
        self.target = target_port
        self.mode = "pass"
        self.delay_s = 3.0
        self.requests = []  # (path, headers) of every request seen
        self.lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            def do_POST(self):
                body = self.body()
                with proxy.lock:
                    proxy.requests.append((self.path, dict(self.headers), body))
                proxy.handle(self, body)

        self._serve(Handler)

    def count(self):
        with self.lock:
            return len(self.requests)

    def _send(self, h, status, body, ctype="application/json", extra=None):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def handle(self, h, body):
        mode = self.mode
        if mode == "delay":
            time.sleep(self.delay_s)
        if mode == "http500":
            return self._send(h, 500, b'{"error":{"message":"boom"}}')
        if mode == "old_server" and b"stream_options" in body:
            return self._send(h, 400, b'{"error":{"message":"Unrecognized request argument '
                              b'supplied: stream_options"}}')
        if mode in ("http400", "http401"):
            status, msg = int(mode[4:]), self.refusal
            return self._send(h, status, json.dumps({"error": {"message": msg}}).encode())
        if mode == "http429":
            return self._send(h, 429, b'{"error":{"message":"slow down"}}',
                              extra={"Retry-After": "0"})
        if mode == "http429ms":  # OpenAI's finer header beside the coarse one
            return self._send(h, 429, b'{"error":{"message":"slow down"}}',
                              extra={"Retry-After": "5", "retry-after-ms": "40"})
        if mode == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            h.connection.close()
            h.close_connection = True
            return
        if mode == "malformed":
            return self._send(h, 200, b'{"choices": [oops', )
        status, headers, data = self.forward(h.path, h.headers, body)
        stream = headers.get("content-type", "").startswith("text/event-stream")
        if mode == "tag":
            data = data.replace(b'"model":"stories260k"', b'"model":"cloud-model"')
        if mode == "truncate":
            data = data[: len(data) // 2] if stream else data[: len(data) // 2]
        if stream:
            h.send_response(status)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(data)
            h.close_connection = True
            if mode == "linger":
                h.wfile.flush()
                time.sleep(self.delay_s)
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        b"\x01\x00\x00\x00\x00\x00\x00\x00")
                h.connection.close()
        else:
            self._send(h, status, data)

    def forward(self, path, headers, body):
        c = http.client.HTTPConnection("127.0.0.1", self.target, timeout=30)
        hdrs = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type", "accept")}
        c.request("POST", path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data


class FakeAnthropic(_Fake):
    """POST /v1/messages. Checks the headers and the request shape; answers
    with `reply` as a message or as the documented stream of events."""

    def __init__(self, key, reply="Hello from Claude."):
        self.key = key
        self.reply = reply
        self.seen = []
        fake = self

        class Handler(_Handler):
            def do_POST(self):
                req = json.loads(self.body())
                fake.seen.append((dict(self.headers), req))
                err = fake.check(self, req)
                if err:
                    body = json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                                  "message": err}}).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if req.get("stream"):
                    fake.stream(self, req)
                else:
                    fake.message(self, req)

        self._serve(Handler)

    def check(self, h, req):
        if h.path != "/v1/messages":
            return "wrong path " + h.path
        if h.headers.get("x-api-key") != self.key:
            return "bad x-api-key"
        if h.headers.get("anthropic-version") != "2023-06-01":
            return "missing anthropic-version"
        if not isinstance(req.get("max_tokens"), int) or not req.get("model"):
            return "model and max_tokens are required"
        msgs = req.get("messages")
        if not msgs or any(m["role"] not in ("user", "assistant") or
                           not (isinstance(m["content"], str) or
                                all(self.block_ok(b) for b in m["content"])) for m in msgs):
            return "bad messages"
        for t in req.get("tools", []):
            if set(t) - {"name", "description", "input_schema"} or \
                    not isinstance(t.get("input_schema"), dict) or not t.get("name"):
                return "bad tool"
        choice = req.get("tool_choice", {"type": "auto"})
        if choice.get("type") not in ("auto", "any", "tool", "none") or \
                (choice["type"] == "tool") != ("name" in choice):
            return "bad tool_choice"
        return None

    @staticmethod
    def block_ok(b):
        t = b.get("type")
        if t == "text":
            return isinstance(b.get("text"), str)
        if t == "tool_use":
            return bool(b.get("id")) and bool(b.get("name")) and isinstance(b.get("input"), dict)
        if t == "tool_result":
            return bool(b.get("tool_use_id"))
        if t == "image":
            src = b.get("source") or {}
            return (src.get("type") == "base64" and src.get("media_type", "").startswith("image/")
                    and bool(src.get("data"))) or (src.get("type") == "url" and bool(src.get("url")))
        return False

    TOOL_INPUT = {"city": "Paris", "units": "metric"}

    def answer(self, req):
        """(text, tool_use block or None, stop_reason): a call of the first
        tool when tools are offered, what the last tool result said after."""
        last = req["messages"][-1]["content"]
        if isinstance(last, list) and last[-1].get("type") == "tool_result":
            return "Tool said: " + str(last[-1].get("content")), None, "end_turn"
        choice = req.get("tool_choice", {}).get("type", "auto")
        if req.get("tools") and choice != "none":
            use = {"type": "tool_use", "id": "toolu_01", "name": req["tools"][0]["name"],
                   "input": self.TOOL_INPUT}
            # A forced tool call comes without text before it.
            return "Let me check." if choice == "auto" else "", use, "tool_use"
        return self.reply, None, "end_turn"

    def message(self, h, req):
        text, use, stop = self.answer(req)
        body = json.dumps({
            "id": "msg_01", "type": "message", "role": "assistant", "model": req["model"],
            "content": ([{"type": "text", "text": text}] if text else []) + ([use] if use else []),
            "stop_reason": stop,
            "stop_sequence": None, "usage": {"input_tokens": 11, "output_tokens": 5}}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def stream(self, h, req):
        text, use, stop = self.answer(req)
        words = text.split(" ") if text else []
        events = [("message_start", {"type": "message_start", "message": {
            "id": "msg_02", "type": "message", "role": "assistant", "model": req["model"],
            "content": [], "stop_reason": None, "usage": {"input_tokens": 11, "output_tokens": 1}}}),
            ("ping", {"type": "ping"})]
        if words:
            events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                                   "content_block": {"type": "text", "text": ""}}))
        for i, w in enumerate(words):
            events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": w + (" " if i < len(words) - 1 else "")}}))
        if words:
            events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        if use:
            args, k = json.dumps(use["input"]), 1 if words else 0
            events.append(("content_block_start", {"type": "content_block_start", "index": k,
                                                   "content_block": dict(use, input={})}))
            for i in range(0, len(args), 7):
                events.append(("content_block_delta", {"type": "content_block_delta", "index": k,
                               "delta": {"type": "input_json_delta", "partial_json": args[i:i + 7]}}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": k}))
        events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop,
                                      "stop_sequence": None}, "usage": {"output_tokens": 5}}),
                   ("message_stop", {"type": "message_stop"})]
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        for name, data in events:
            h.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())
            h.wfile.flush()
        h.close_connection = True


class CapturingEcho(_Fake):
    """An OpenAI-compatible upstream that records every byte it receives and
    answers "You said: <the last user message>", so placeholders sent to it
    come back. Streams are cut into `split`-byte pieces, so a placeholder
    arrives across several chunks."""

    def __init__(self, split=3):
        self.split = split
        self.received = []  # raw request bytes, one entry per request
        self.bodies = []    # the JSON bodies alone
        self.lock = threading.Lock()
        echo = self

        class Handler(_Handler):
            def do_POST(self):
                body = self.body()
                raw = (self.requestline + "\r\n" + str(self.headers)).encode() + body
                req = json.loads(body)
                with echo.lock:
                    echo.received.append(raw)
                    echo.bodies.append(req)
                echo.answer(self, req)

        self._serve(Handler)

    def all_bytes(self):
        with self.lock:
            return b"".join(self.received)

    def answer(self, h, req):
        msgs = req.get("messages") or [{"content": ""}]
        text = "You said: " + str(msgs[-1].get("content"))
        if req.get("tools"):
            return self.tool_answer(h, req, json.dumps({"said": text}))
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        base = {"id": "chatcmpl-echo", "created": 0, "model": req.get("model")}
        if not req.get("stream"):
            send_json(h, dict(base, object="chat.completion", usage=usage, choices=[{
                "index": 0, "message": {"role": "assistant", "content": text},
                "finish_reason": "stop"}]))
            return
        pieces = [text[i:i + self.split] for i in range(0, len(text), self.split)]
        send_sse(h, [json.dumps(dict(base, object="chat.completion.chunk", choices=[{
            "index": 0, "delta": {"content": p},
            "finish_reason": "stop" if i == len(pieces) - 1 else None}]))
            for i, p in enumerate(pieces)] + ["[DONE]"])

    def tool_answer(self, h, req, args):
        """A call of the first tool with `args` (JSON text) as OpenAI sends
        it: content null; streamed, the arguments in `split`-byte pieces."""
        name = req["tools"][0]["function"]["name"]
        base = {"id": "chatcmpl-tool", "created": 0, "model": req.get("model")}
        call = {"id": "call_1", "type": "function", "function": {"name": name}}
        if not req.get("stream"):
            call["function"]["arguments"] = args
            send_json(h, dict(base, object="chat.completion", choices=[{
                "index": 0, "message": {"role": "assistant", "content": None,
                                        "tool_calls": [call]},
                "finish_reason": "tool_calls"}]))
            return
        call["function"]["arguments"] = ""
        deltas = [{"role": "assistant", "content": None, "tool_calls": [dict(call, index=0)]}]
        deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + self.split]}}]}
                   for i in range(0, len(args), self.split)]
        chunks = [dict(base, object="chat.completion.chunk",
                       choices=[{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
        chunks.append(dict(base, object="chat.completion.chunk",
                           choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]))
        send_sse(h, [json.dumps(c) for c in chunks] + ["[DONE]"])


def send_json(h, doc):
    data = json.dumps(doc).encode()
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def send_sse(h, datas):
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Connection", "close")
    h.end_headers()
    for d in datas:
        h.wfile.write(b"data: " + d.encode() + b"\n\n")
        h.wfile.flush()
    h.close_connection = True


class BigStream(_Fake):
    """Streams `chunks` chunks of `size` characters each ("a", "b", ... in
    turn, so a lost or reordered chunk shows), then a finish chunk and
    [DONE]; `sent` is how many content bytes its socket has taken so far."""

    def __init__(self, chunks, size):
        self.chunks, self.size, self.sent = chunks, size, 0
        self.compact = True  # False: JSON with spaces after ':' and ','
        big = self

        class Handler(_Handler):
            def do_POST(self):
                self.body()
                big.answer(self)

        self._serve(Handler)

    def text(self):
        return "".join(chr(97 + i % 26) * self.size for i in range(self.chunks))

    def answer(self, h):
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        compact = dict(separators=(",", ":") if self.compact else (", ", ": "))
        for i in range(self.chunks + 1):
            last = i == self.chunks
            ch = {"id": "chatcmpl-big", "object": "chat.completion.chunk", "created": 0,
                  "model": "big", "choices": [{"index": 0,
                  "delta": {} if last else {"content": chr(97 + i % 26) * self.size},
                  "finish_reason": "stop" if last else None}]}
            h.wfile.write(b"data: " + json.dumps(ch, **compact).encode() + b"\n\n")
            h.wfile.flush()
            self.sent += 0 if last else self.size
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()
        h.close_connection = True

