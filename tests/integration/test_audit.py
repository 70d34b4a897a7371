# test_audit.py -- the audit log as a served request writes it: one row per
# API request (refusals included) with the key's id but never the key, the
# route and escalation, tokens and cost; no prompt text unless log_prompts;
# the chain verifies after a clean stop and after kill -9 under load.
import json
import signal
import subprocess
import threading

from conftest import HEARTH, Server, sse_events


def audit(*args):
    return subprocess.run([HEARTH, "audit", *args], capture_output=True, text=True, timeout=120)


def rows(db):
    r = audit("export", "--db", str(db), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def chat(s, content="Once upon a time", **kw):
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 8}
    body.update(kw.pop("body", {}))
    return s.json("POST", "/v1/chat/completions", body, **kw)


def test_one_row_per_request_without_secrets(tmp_path):
    db = tmp_path / "audit.db"
    key = "sk-test-very-secret-4242"
    s = Server("--audit-db", str(db), "--api-key", key)
    auth = {"Authorization": "Bearer " + key}
    try:
        assert chat(s, "The secret prompt text", headers=auth)[0] == 200
        assert chat(s, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert chat(s, headers=auth, body={"max_tokens": -1})[0] == 400
        st, _, raw = s.stream("/v1/completions", {"prompt": "Hi", "max_tokens": 4,
                                                   "stream": True}, headers=auth)
        assert st == 200 and raw.endswith(b"data: [DONE]\n\n")
        assert s.request("GET", "/v1/models", headers=auth)[0] == 200  # not a model call
        assert b"hearth_audit_rows_total" in s.request("GET", "/metrics", headers=auth)[2]
    finally:
        rc, err = s.stop()
    assert rc == 0, err
    r = audit("verify", "--db", str(db))
    assert r.returncode == 0 and "4 rows verified, chain intact" in r.stdout, r.stdout + r.stderr
    got = rows(db)
    assert [g["http_status"] for g in got] == [200, 401, 400, 200]
    assert got[0]["key_id"].startswith("key-") and got[1]["key_id"] is None
    assert got[0]["local_model"] == "stories260k" and got[0]["local_tokens_out"] == 8
    assert got[3]["local_tokens_out"] == 4
    assert all(g["prompt"] is None for g in got)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert key.encode() not in raw and b"secret prompt" not in raw


def test_escalation_and_cost_are_recorded(tmp_path):
    cloud = Server("-t", "1", "--audit-db", "off")
    db = tmp_path / "audit.db"
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text(
        "upstreams:\n  up:\n    base_url: http://127.0.0.1:%d/v1\n    model: stories260k\n"
        "    price: {input_per_1m: 1000.0, output_per_1m: 2000.0}\n"
        "routes:\n  auto: {policy: local_first, upstream: up, threshold: 1.0}\n"
        "  live: {policy: cloud_only, upstream: up, cloud_stream: live}\n"
        "audit: {path: %s, log_prompts: true}\n" % (cloud.port, db))
    s = Server("-t", "1", "--config", str(cfg), env={"HEARTH_AUDIT_DB": ""})
    streams = []
    try:
        st, _, doc = chat(s, "Tell me a story", body={"model": "auto"})
        assert st == 200 and doc["hearth"]["route"] == "cloud", doc
        # Streams: the cost is known whether or not the client asked for usage.
        for model, usage in (("auto", False), ("live", False), ("auto", True), ("live", True)):
            body = {"model": model, "stream": True, "max_tokens": 8,
                    "messages": [{"role": "user", "content": "Tell me a story"}]}
            if usage:
                body["stream_options"] = {"include_usage": True}
            st, _, raw = s.stream("/v1/chat/completions", body)
            assert st == 200, raw
            got = [e["usage"] for e in sse_events(raw) if e.get("usage")]
            assert len(got) == usage, (model, usage, got)
            streams.append(got)
    finally:
        s.stop()
        cloud.stop()
    row, *streamed = rows(db)
    assert len(streamed) == 4
    for r in streamed:
        assert r["upstream_tokens_in"] > 0 and r["upstream_tokens_out"] > 0, r
        want = (r["upstream_tokens_in"] * 1000 + r["upstream_tokens_out"] * 2000) * 1000
        assert abs(r["cost_nusd"] - want) <= 1, r
    for r, got in zip(streamed[2:], streams[2:]):
        assert (r["upstream_tokens_in"], r["upstream_tokens_out"]) == (
            got[0]["prompt_tokens"], got[0]["completion_tokens"])
    assert row["route"] == "auto" and row["policy"] == "local_first"
    assert row["escalated"] == 1 and row["escalation_reason"] == doc["hearth"]["escalation_reason"]
    assert row["upstream"] == "up" and row["upstream_model"] == "stories260k"
    u = doc["usage"]
    assert (row["upstream_tokens_in"], row["upstream_tokens_out"]) == (
        u["prompt_tokens"], u["completion_tokens"])
    want = u["prompt_tokens"] * 1000e-6 + u["completion_tokens"] * 2000e-6
    assert abs(row["cost_nusd"] * 1e-9 - want) < 1e-9
    assert "Tell me a story" in row["prompt"]  # log_prompts: true


def test_kill_9_under_load_leaves_a_valid_chain(tmp_path):
    db = tmp_path / "audit.db"
    s = Server("-t", "1", "--audit-db", str(db))
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                chat(s, body={"max_tokens": 2})
            except OSError:
                return

    workers = [threading.Thread(target=load) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        deadline = 200
        while len(rows(db)) < 20 and deadline:
            deadline -= 1
            threading.Event().wait(0.05)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
    finally:
        stop.set()
        for w in workers:
            w.join()
        s.stop()
    assert audit("verify", "--db", str(db)).returncode == 0
    n = len(rows(db))
    s2 = Server("-t", "1", "--audit-db", str(db))
    try:
        assert chat(s2)[0] == 200
    finally:
        s2.stop()
    r = audit("verify", "--db", str(db))
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(rows(db)) == n + 1
