# conftest.py -- start and stop real `hearth serve` processes for the
# integration tests. Each server binds port 0 on loopback; the port is read
# from the line it prints. Nothing here talks to anything but 127.0.0.1.
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

HEARTH = os.environ.get("HEARTH_BIN", "build/hearth")
MODEL = os.environ.get("HEARTH_TEST_MODEL", "models/stories260k.gguf")
REFERENCE = (", there was a little girl named Lily. She loved to play outside in the park. "
             "One day, she saw a big, red ball.")


class Server:
    def __init__(self, *args, env=None, model=None):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [HEARTH, "serve", model or MODEL, "--port", "0", "-t", "2", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("hearth serve did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(m.group(1))
        deadline = time.time() + 30
        while time.time() < deadline:
            status, _, _ = self.request("GET", "/health")
            if status == 200:
                return
            time.sleep(0.05)
        raise RuntimeError("hearth serve never became healthy")

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=60):
        c = self.conn(timeout)
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        raw = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), raw

    def json(self, method, path, body=None, headers=None):
        status, hdrs, raw = self.request(method, path, body, headers)
        return status, hdrs, json.loads(raw) if raw else None

    def stream(self, path, body, headers=None):
        """Raw SSE bytes of a streamed request, plus status and headers."""
        status, hdrs, raw = self.request("POST", path, body, headers)
        return status, hdrs, raw

    def metrics(self):
        _, _, raw = self.request("GET", "/metrics")
        return raw.decode()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode, err


def read_to_eof(sock):
    """Everything the peer sends until it closes (or the socket times out)."""
    out = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    return out


def sse_events(raw):
    """Split an SSE body into its data payloads; asserts the framing."""
    text = raw.decode()
    assert text.endswith("data: [DONE]\n\n"), text[-200:]
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        assert block.startswith("data: "), block
        events.append(block[len("data: "):])
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def sse_text(raw, chat):
    out = []
    for ev in sse_events(raw):
        for ch in ev.get("choices", []):
            out.append(ch.get("delta", {}).get("content") or "" if chat else ch.get("text", ""))
    return "".join(out)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    rc, err = s.stop()
    assert rc == 0, err
    assert "ERROR: AddressSanitizer" not in err and "runtime error" not in err, err


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
