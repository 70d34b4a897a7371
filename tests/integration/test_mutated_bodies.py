# test_mutated_bodies.py -- chat bodies with their tool, schema, image, n
# and message fields mutated at random (seeded), sent to local, OpenAI and
# Anthropic routes: every answer is a status the API documents with an
# OpenAI-shaped body, and the server stops cleanly (under `make asan`, with
# the sanitizers watching).
import json
import random

from conftest import Server
from fakes import CapturingEcho, FakeAnthropic

VALUES = [None, 0, 1, -1, 2.5, "", "x", "function", "auto", "required", [], {}, [None], [{}],
          {"a": 1}, True, "<EMAIL_1>", "a@b.com", "data:image/png;base64,QUJD"]
KEYS = ["type", "function", "name", "arguments", "parameters", "role", "content", "tool_calls",
        "tool_call_id", "text", "image_url", "url", "id", "index", "json_schema", "schema",
        "input"]


def value(rng, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.4:
        return rng.choice(VALUES)
    if r < 0.7:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def body(rng):
    b = {"model": rng.choice(["anth", "first", "live", "stories260k"]), "max_tokens": 4,
         "messages": [{"role": "user", "content": "hi a@b.com"}]}
    for k in rng.sample(["tools", "tool_choice", "response_format", "n", "messages", "stream",
                         "parallel_tool_calls", "stream_options"], rng.randint(1, 3)):
        if k == "messages":
            b[k] = [{"role": rng.choice(["user", "assistant", "tool", "system"]),
                     "content": value(rng), "tool_calls": value(rng),
                     "tool_call_id": value(rng)} for _ in range(rng.randint(1, 3))]
        elif k == "stream":
            b[k] = rng.choice([True, False])
        elif k == "tools":
            b[k] = rng.choice([value(rng), [{"type": "function", "function": {
                "name": "f", "parameters": value(rng)}}]])
        elif k == "response_format":
            b[k] = rng.choice([value(rng), {"type": "json_schema", "json_schema": {
                "name": "s", "schema": value(rng)}}])
        else:
            b[k] = value(rng)
    return b


def test_mutated_bodies(tmp_path):
    anth, echo = FakeAnthropic("k"), CapturingEcho()
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text("""upstreams:
  claude: {kind: anthropic, base_url: "http://127.0.0.1:%d/v1", model: c, api_key_env: MUT_KEY}
  echo: {base_url: "http://127.0.0.1:%d/v1", model: e}
routes:
  anth: {policy: cloud_only, upstream: claude, privacy: open}
  first: {policy: local_first, upstream: echo, privacy: open}
  live: {policy: cloud_only, upstream: echo, cloud_stream: live}
privacy:
  policies:
    open: {actions: {image: allow}}
""" % (anth.port, echo.port))
    s = Server("--config", str(cfg), "-t", "1", env={"MUT_KEY": "k"})
    rng = random.Random(20261127)
    seen = {}
    try:
        for _ in range(400):
            b = body(rng)
            status, hdrs, raw = s.request("POST", "/v1/chat/completions", b)
            seen[status] = seen.get(status, 0) + 1
            assert status in (200, 400, 403, 502, 503), (status, b, raw[:300])
            if status != 200:
                err = json.loads(raw)["error"]
                assert err["message"] and err["type"], (b, err)
            elif not b.get("stream") or hdrs.get("content-type", "").startswith("application/json"):
                assert "choices" in json.loads(raw), (b, raw[:300])
            else:
                assert raw.endswith(b"data: [DONE]\n\n"), (b, raw[-300:])
    finally:
        rc, err = s.stop()
        anth.close()
        echo.close()
    assert rc == 0, err
    assert seen.get(200, 0) > 20 and seen.get(400, 0) > 100, seen  # both kinds were reached
