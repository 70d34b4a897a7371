# test_bench_relay.py -- the byte relay the gateway benchmark uses as its
# floor must relay, or the floor it reports means nothing: bytes both ways,
# whole and in order, while the reading side is slower than the writing one
# (the relay keeps what a socket will not take and stops reading meanwhile),
# and a closed side closes the other.
import hashlib
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import HEARTH

RELAY = os.path.join(os.path.dirname(HEARTH), "hearth-relay")


@pytest.fixture
def target():
    srv = socket.create_server(("127.0.0.1", 0))
    yield srv
    srv.close()


def start_relay(port):
    if not os.path.exists(RELAY):
        pytest.skip("hearth-relay is not built")
    p = subprocess.Popen([RELAY, str(port)], stdout=subprocess.PIPE, text=True)
    m = re.search(r"listening (\d+)", p.stdout.readline())
    assert m, "the relay did not start"
    return p, int(m.group(1))


def test_both_ways_with_a_slow_reader(target):
    upload = os.urandom(5_000_000)
    answer = os.urandom(20_000_000)

    def serve():
        c, _ = target.accept()
        got = b""
        while len(got) < len(upload):
            got += c.recv(1 << 20)
        c.sendall(hashlib.sha256(got).digest() + answer)
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    relay, port = start_relay(target.getsockname()[1])
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        threading.Thread(target=lambda: c.sendall(upload), daemon=True).start()
        buf = b""
        while True:
            if len(buf) < 2_000_000:
                time.sleep(0.0005)  # slower than the target writes: the relay must keep bytes
            x = c.recv(65536)
            if not x:
                break
            buf += x
        assert buf[:32] == hashlib.sha256(upload).digest()
        assert len(buf) == 32 + len(answer)
        assert buf[32:] == answer
        assert relay.poll() is None
    finally:
        relay.terminate()
        relay.wait(timeout=10)
