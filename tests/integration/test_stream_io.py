# test_stream_io.py -- how a streamed answer reaches the socket, checked on
# the raw bytes: an HTTP/1.0 stream is unchunked and ends with the close, a
# client that starts reading late still gets every chunk intact and in
# order (pieces the socket does not take at once queue behind what it took),
# and a client that stops reading holds back the upstream instead of making
# hearth keep the answer.
import json
import socket
import time

import pytest

from conftest import REFERENCE, Server, sse_events, sse_text
from fakes import BigStream, CapturingEcho

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
    out, i = [], 0
    while True:
        j = b.index(b"\r\n", i)
        n = int(b[i:j], 16)
        i = j + 2
        if n == 0:
            assert b[i:] == b"\r\n"
            return b"".join(out)
        assert b[i + n:i + n + 2] == b"\r\n", "chunk of %d bytes not followed by CRLF" % n
        out.append(b[i:i + n])
        i += n + 2


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


def test_final_chunk_keeps_its_fields_and_gets_the_hearth_object(tmp_path):
    # An upstream's compact final chunk is passed on as text with the hearth
    # object spliced in; it must read as the parsed path's does (taken for
    # JSON written with spaces).
    big = BigStream(chunks=3, size=5)
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text(CONFIG.replace("echo-model", "big") % big.port)
    s = Server("-t", "1", "--config", str(cfg))
    try:
        last = {}
        for compact in (True, False):
            big.compact = compact
            st, hdrs, raw = s.stream("/v1/chat/completions", {
                "model": "live", "messages": [{"role": "user", "content": "Hi"}],
                "stream": True})
            assert st == 200 and hdrs["x-hearth-route"] == "cloud"
            assert sse_text(raw, chat=True) == big.text()
            events = sse_events(raw)
            assert all("hearth" not in e for e in events[:-1])
            last[compact] = events[-1]
        spliced, parsed = last[True], last[False]
        assert spliced["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
        assert spliced["hearth"]["route"] == "cloud" and spliced["hearth"]["upstream_ms"] > 0
        for doc in (spliced, parsed):
            for k in ("local_ms", "upstream_ms"):
                doc["hearth"].pop(k)
        assert spliced == parsed
    finally:
        rc, err = s.stop()
        big.close()
        assert rc == 0, err


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def test_stalled_reader_holds_back_the_upstream(tmp_path):
    big = BigStream(chunks=4096, size=16384)  # 64 MiB
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text(CONFIG.replace("echo-model", "big") % big.port)
    s = Server("-t", "1", "--config", str(cfg))
    try:
        rss0 = rss_kb(s.proc.pid)
        body = json.dumps({"model": "live", "messages": [{"role": "user", "content": "Hi"}],
                           "stream": True}).encode()
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.settimeout(60)
        c.connect(("127.0.0.1", s.port))
        c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % len(body) + body)
        time.sleep(2.0)  # the client reads nothing
        held = rss_kb(s.proc.pid) - rss0
        sent = big.sent
        # What the upstream got out is what hearth took plus what the kernel
        # buffers on both sockets; without backpressure it is all of it.
        assert sent < big.chunks * big.size // 2, sent
        assert held < 16 << 10, "hearth grew by %d kB for a stalled client" % held
        got = bytearray()
        while not got.endswith(b"\r\n0\r\n\r\n"):
            piece = c.recv(1 << 20)
            assert piece, "the stream broke off"
            got += piece
        c.close()
        head, _, rest = bytes(got).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert sse_text(dechunk(rest), chat=True) == big.text()
    finally:
        rc, err = s.stop()
        big.close()
        assert rc == 0, err

