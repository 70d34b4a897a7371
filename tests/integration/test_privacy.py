# test_privacy.py -- what reaches an upstream when a request escalates,
# checked on the bytes a capturing stand-in received: nothing at all when
# the data is blocked or restricted, no original PII value when redacted,
# and the client's answer with the originals put back (stream and not).
import json
import subprocess
import time

import pytest

from conftest import HEARTH, Server, sse_events, sse_text
from fakes import CapturingEcho

EMAIL, CARD, PHONE = "alice.smith@example.com", "4111 1111 1111 1111", "+1 415 555 2671"
SECRET = "AKIAIOSFODNN7EXAMPLE"
PII_TEXT = "Mail %s, card %s, phone %s. Mail %s again." % (EMAIL, CARD, PHONE, EMAIL)

CONFIG = """
upstreams:
  echo: {base_url: "http://127.0.0.1:%(port)d/v1", model: echo-model}
routes:
  cloud: {policy: cloud_only, upstream: echo}
  live: {policy: cloud_only, upstream: echo, cloud_stream: live}
  auto: {policy: local_first, upstream: echo, threshold: 1.0}
  public: {policy: cloud_only, upstream: echo, privacy: open}
  vision: {policy: local_first, upstream: echo, privacy: pictures}
privacy:
  deny: [{name: project, words: [Bluebird]}]
  policies:
    strict: {actions: {"*": block}}
    open: {actions: {email: allow}, data_class: public}
    pictures: {actions: {image: allow}}
  keys: {%(strict_id)s: strict}
audit: {path: %(db)s}
"""

KEY, STRICT_KEY = "sk-default-key-1", "sk-strict-key-2"


def key_id(key):
    import hashlib
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("privacy")
    echo = CapturingEcho()
    cfg = d / "hearth.yaml"
    cfg.write_text(CONFIG % {"port": echo.port, "strict_id": key_id(STRICT_KEY),
                             "db": d / "audit.db"})
    s = Server("-t", "1", "--config", str(cfg), "--api-key", KEY, "--api-key", STRICT_KEY,
               env={"HEARTH_AUDIT_DB": ""})
    yield s, echo, d / "audit.db"
    rc, err = s.stop()
    echo.close()
    assert rc == 0, err


def ask(s, route, content, key=KEY, stream=False, headers=None):
    body = {"model": route, "messages": [{"role": "user", "content": content}],
            "max_tokens": 8, "stream": stream}
    h = {"Authorization": "Bearer " + key}
    h.update(headers or {})
    if stream:
        return s.stream("/v1/chat/completions", body, h)
    return s.json("POST", "/v1/chat/completions", body, h)


def fresh(echo):
    with echo.lock:
        echo.received.clear()
        echo.bodies.clear()


@pytest.mark.parametrize("route,stream", [("cloud", False), ("cloud", True), ("live", True)])
def test_redact_and_restore(setup, route, stream):
    s, echo, _ = setup
    fresh(echo)
    st, hdrs, out = ask(s, route, PII_TEXT + " Bluebird ships.", stream=stream)
    assert st == 200, out
    sent = echo.all_bytes()
    assert sent, "the request should have reached the upstream"
    for value in (EMAIL, CARD, PHONE, "Bluebird", "4111"):
        assert value.encode() not in sent, value
    req = echo.bodies[-1]
    said = req["messages"][-1]["content"]
    assert said.count("<EMAIL_1>") == 2 and "<CARD_1>" in said and "<PHONE_1>" in said
    assert "<PROJECT_1>" in said
    text = sse_text(out, True) if stream else out["choices"][0]["message"]["content"]
    assert text == "You said: " + PII_TEXT + " Bluebird ships."
    if not stream:
        assert out["hearth"]["privacy"] == {"data_class": "internal", "pii_found": 5,
                                            "redacted": True}


TOOLS = [{"type": "function", "function": {"name": "record", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize("route,stream", [("cloud", False), ("cloud", True)])
def test_tool_call_arguments_are_restored(setup, route, stream):
    """Placeholders come back inside tool-call arguments too: whole, and
    streamed in 3-byte pieces that split every placeholder. An original
    with a quote must keep the arguments valid JSON."""
    s, echo, _ = setup
    fresh(echo)
    content = PII_TEXT + ' Say "%s".' % EMAIL
    body = {"model": route, "messages": [{"role": "user", "content": content}],
            "tools": TOOLS, "stream": stream}
    h = {"Authorization": "Bearer " + KEY}
    st, _, out = (s.stream if stream else lambda p, b, hh: s.json("POST", p, b, hh))(
        "/v1/chat/completions", body, h)
    assert st == 200, out
    assert EMAIL.encode() not in echo.all_bytes()
    if stream:
        from test_routing import tool_calls_of
        calls = tool_calls_of(sse_events(out))
        assert [(c["id"], c["name"]) for c in calls] == [("call_1", "record")]
        args = calls[0]["arguments"]
    else:
        msg = out["choices"][0]["message"]
        assert msg["content"] is None and out["choices"][0]["finish_reason"] == "tool_calls"
        args = msg["tool_calls"][0]["function"]["arguments"]
    assert json.loads(args) == {"said": "You said: " + content}


def test_tools_and_schemas_reach_the_upstream_as_sent(setup):
    """What only an upstream can honour goes to it unchanged."""
    s, echo, _ = setup
    fresh(echo)
    fmt = {"type": "json_schema", "json_schema": {"name": "said", "strict": True, "schema": {
        "type": "object", "properties": {"said": {"type": "string"}}}}}
    body = {"model": "cloud", "messages": [{"role": "user", "content": "Hi"}],
            "response_format": fmt}
    st, hdrs, out = s.json("POST", "/v1/chat/completions", body, {"Authorization": "Bearer " + KEY})
    assert st == 200, out
    assert echo.bodies[-1]["response_format"] == fmt
    choice = {"type": "function", "function": {"name": "record"}}
    tools = TOOLS + [{"type": "custom", "custom": {"name": "grep"}}]  # not hearth's to judge
    st, _, out = s.json("POST", "/v1/chat/completions", dict(body, tools=tools, tool_choice=choice,
                                                              parallel_tool_calls=False),
                        {"Authorization": "Bearer " + KEY})
    assert st == 200, out
    sent = echo.bodies[-1]
    assert sent["tools"] == tools and sent["tool_choice"] == choice
    assert sent["parallel_tool_calls"] is False
    st, _, out = s.json("POST", "/v1/chat/completions", dict(body, n=3),
                        {"Authorization": "Bearer " + KEY})
    assert st == 200 and echo.bodies[-1]["n"] == 3, out


def test_images_leave_only_where_a_policy_lets_them(setup):
    """An image cannot be scanned: the built-in policy keeps it here (403,
    naming the class); a policy with image: allow sends it as it is, the
    text around it still redacted, and the local model never tries."""
    s, echo, _ = setup
    img = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    content = [{"type": "text", "text": "Who sent this? " + EMAIL}, img]
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 8}
    h = {"Authorization": "Bearer " + KEY}
    fresh(echo)
    for route in ("auto", "cloud"):
        st, _, out = s.json("POST", "/v1/chat/completions", dict(body, model=route), h)
        assert st == 403 and out["error"]["code"] == "data_blocked", out
        assert "image data" in out["error"]["message"]
    assert echo.all_bytes() == b""
    st, hdrs, out = s.json("POST", "/v1/chat/completions", dict(body, model="vision"), h)
    assert st == 200, out
    assert hdrs["x-hearth-escalation-reason"] == "images"
    sent = echo.bodies[-1]["messages"][0]["content"]
    assert sent[1] == img and sent[0]["text"] == "Who sent this? <EMAIL_1>"
    assert EMAIL.encode() not in echo.all_bytes()


def test_secret_is_blocked_and_named_not_shown(setup):
    s, echo, _ = setup
    fresh(echo)
    st, _, doc = ask(s, "cloud", "my key is " + SECRET)
    assert st == 403, doc
    assert doc["error"]["code"] == "data_blocked" and doc["error"]["type"] == "permission_error"
    assert "secret" in doc["error"]["message"] and SECRET not in json.dumps(doc)
    st, _, raw = ask(s, "cloud", "my key is " + SECRET, stream=True)
    assert st == 403
    assert echo.all_bytes() == b""


def test_blocked_local_first_answers_locally(setup):
    s, echo, _ = setup
    fresh(echo)
    st, hdrs, doc = ask(s, "auto", "Once upon a time " + SECRET)
    assert st == 200 and doc["hearth"]["route"] == "local", doc
    assert doc["hearth"]["privacy"]["blocked"] == "secret"
    assert hdrs["x-hearth-route"] == "local"
    st, _, raw = ask(s, "auto", "Once upon a time", headers={"X-Hearth-Data-Class": "restricted"},
                     stream=True)
    assert st == 200 and sse_text(raw, True)
    assert echo.all_bytes() == b""


def test_restricted_and_bad_header(setup):
    s, echo, _ = setup
    fresh(echo)
    st, _, doc = ask(s, "cloud", "nothing personal", headers={"X-Hearth-Data-Class": "Restricted"})
    assert st == 403 and "restricted" in doc["error"]["message"]
    st, _, doc = ask(s, "cloud", "hi", headers={"X-Hearth-Data-Class": "secret-ish"})
    assert st == 400 and doc["error"]["code"] == "invalid_data_class"
    assert echo.all_bytes() == b""
    # A header may not loosen the policy: "public" on an internal route still redacts.
    st, _, doc = ask(s, "cloud", "write to " + EMAIL, headers={"X-Hearth-Data-Class": "public"})
    assert st == 200 and EMAIL.encode() not in echo.all_bytes()


def test_policy_per_key_and_per_route(setup):
    s, echo, _ = setup
    fresh(echo)
    st, _, doc = ask(s, "cloud", "write to " + EMAIL, key=STRICT_KEY)
    assert st == 403 and "email" in doc["error"]["message"]
    assert echo.all_bytes() == b""
    # Public data: what would be redacted may go as it is; blocked classes still stay.
    st, _, doc = ask(s, "public", "write to " + EMAIL + " about " + CARD)
    assert st == 200
    sent = echo.all_bytes()
    assert EMAIL.encode() in sent and CARD.encode() in sent
    assert doc["hearth"]["privacy"] == {"data_class": "public", "pii_found": 2, "redacted": False}
    fresh(echo)
    st, _, doc = ask(s, "public", "key " + SECRET)
    assert st == 403 and echo.all_bytes() == b""


def test_audit_rows_have_types_not_values(setup):
    s, echo, db = setup
    ask(s, "cloud", PII_TEXT)
    ask(s, "cloud", "my key is " + SECRET)
    ask(s, "cloud", "done")
    for _ in range(100):  # the writer commits in the background
        r = subprocess.run([HEARTH, "audit", "export", "--db", str(db)], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        if rows and rows[-1]["pii"] == "{}":
            break
        time.sleep(0.05)
    rows = rows[:-1]
    pii = [json.loads(x["pii"]) for x in rows]
    assert {"count": 2, "action": "redact"} == pii[-2]["email"]
    assert pii[-2]["card"]["action"] == "redact" and pii[-1]["secret"]["action"] == "block"
    assert rows[-1]["http_status"] == 403 and rows[-1]["escalated"] == 0
    raw = db.read_bytes() + (db.parent / (db.name + "-wal")).read_bytes() \
        if (db.parent / (db.name + "-wal")).exists() else db.read_bytes()
    for value in (EMAIL, CARD, PHONE, SECRET):
        assert value.encode() not in raw
    assert subprocess.run([HEARTH, "audit", "verify", "--db", str(db)]).returncode == 0


def test_bad_input_is_handled(setup):
    s, echo, _ = setup
    fresh(echo)
    digits = "1234567890" * 100_000  # 1 MB of digits: no card, no phone, no hang
    st, _, doc = ask(s, "cloud", digits)
    assert st == 200 and doc["choices"][0]["message"]["content"] == "You said: " + digits
    assert doc["hearth"]["privacy"]["pii_found"] == 0
    st, _, doc = ask(s, "cloud", "")
    assert st == 200
    # Invalid UTF-8 cannot be JSON: a clear 400, nothing sent.
    fresh(echo)
    body = b'{"model": "cloud", "messages": [{"role": "user", "content": "\xff\xfe"}]}'
    st, _, raw = s.request("POST", "/v1/chat/completions", body,
                           {"Authorization": "Bearer " + KEY})
    assert st == 400 and b"invalid_request_error" in raw
    assert echo.all_bytes() == b""
