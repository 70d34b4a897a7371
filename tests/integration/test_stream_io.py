# test_stream_io.py -- how a streamed answer reaches the socket, checked on
# the raw bytes: an HTTP/1.0 stream is unchunked and ends with the close, and
# a client that starts reading late still gets every chunk intact and in
# order (pieces the socket does not take at once queue behind what it took).
import json
import socket
import time

import pytest

from conftest import REFERENCE, Server, sse_events, sse_text
from fakes import CapturingEcho

CONFIG = """
upstreams:
  echo: {base_url: "http://127.0.0.1:%d/v1", model: echo-model}
routes:
  live: {policy: cloud_only, upstream: echo, cloud_stream: live}
privacy: {enabled: false}
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    echo = CapturingEcho(split=4000)
    cfg = tmp_path_factory.mktemp("stream_io") / "hearth.yaml"
    cfg.write_text(CONFIG % echo.port)
    s = Server("-t", "1", "--config", str(cfg))
    yield s
    rc, err = s.stop()
    echo.close()
    assert rc == 0, err


def raw_stream(port, request_line, body, rcvbuf=None, pause=0.0):
    """One request by hand, read until the close or the end of the chunked
    body; returns (head, body bytes as sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    s.sendall(request_line + b"\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(pause)
    got = b""
    while not got.endswith(b"\r\n0\r\n\r\n"):
        piece = s.recv(65536)
        if not piece:
            break
        got += piece
    s.close()
    head, _, rest = got.partition(b"\r\n\r\n")
    return head.decode(), rest


def dechunk(b):
    out = b""
    while True:
        size, _, b = b.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            assert b == b"\r\n"
            return out
        assert b[n:n + 2] == b"\r\n", "chunk of %d bytes not followed by CRLF" % n
        out, b = out + b[:n], b[n + 2:]


def test_http10_stream_ends_with_close(setup):
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0,
                       "stream": True}).encode()
    head, rest = raw_stream(setup.port, b"POST /v1/completions HTTP/1.0", body)
    assert head.startswith("HTTP/1.1 200") and "chunked" not in head.lower()
    assert sse_text(rest, chat=False) == REFERENCE


def test_slow_reader_gets_whole_stream(setup):
    # 5.6 MB echoed back in 4000-byte pieces: more than the kernel holds for
    # a reader that has not started reading (4 MB send buffer at most, and a
    # 64 kB receive buffer; a smaller one makes TCP itself crawl).
    text = "".join("%07d " % i for i in range(700000))
    body = json.dumps({"model": "live", "messages": [{"role": "user", "content": text}],
                       "stream": True}).encode()
    head, rest = raw_stream(setup.port, b"POST /v1/chat/completions HTTP/1.1", body,
                            rcvbuf=65536, pause=1.0)
    assert head.startswith("HTTP/1.1 200"), head
    assert "transfer-encoding: chunked" in head.lower()
    assert sse_text(dechunk(rest), chat=True) == "You said: " + text
