# test_eval_models.py -- the two evaluation models committed under
# eval/models/ load in hearth, answer a few easy items right, and hearth's
# log-probs for fixed prompts match the PyTorch model's (the reference files
# next to each model, written by eval/train/reference.py from the same GGUF).
import json
import math
import os

import pytest

from conftest import Server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "eval", "models")
TIERS = ["local", "cloud"]
# F16 KV cache in llama.cpp against F32 in PyTorch: differences of ~1e-3 are
# normal; a wrong layout (RoPE pairing, GQA mapping, a transposed weight)
# moves log-probs by whole units.
TOL = 0.03

# Items each model answers right, from what its tier was trained for (the
# local model: short sums; the cloud model: continents of well-known
# countries): a model that loads wrongly or a runtime that computes
# differently gets them wrong.
EASY = {
    "local": [
        ("What is 8 + 2?", "10"),
        ("What is 9 + 1?", "10"),
        ("What is 5 - 3?", "2"),
        ("What is 7 + 6?", "13"),
        ("What is 9 - 4?", "5"),
    ],
    "cloud": [
        ("On which continent is Japan?", "Asia"),
        ("On which continent is Kenya?", "Africa"),
        ("On which continent is Italy?", "Europe"),
    ],
}


def path(tier, ext=".gguf"):
    return os.path.join(MODELS, "hearth-eval-%s%s" % (tier, ext))


@pytest.fixture(scope="module", params=TIERS)
def served(request):
    s = Server("-t", "1", "-p", "1", model=path(request.param))
    yield request.param, s
    s.stop()


def chat(s, prompt, **kw):
    body = {"messages": [{"role": "user", "content": prompt}], "temperature": 0,
            "max_tokens": 16}
    body.update(kw)
    status, _, doc = s.json("POST", "/v1/chat/completions", body)
    assert status == 200, doc
    return doc


def test_easy_items(served):
    tier, s = served
    for prompt, want in EASY[tier]:
        got = chat(s, prompt)["choices"][0]["message"]["content"]
        assert got.strip() == want, (tier, prompt, got)


def test_logprobs_match_pytorch(served):
    tier, s = served
    with open(path(tier, ".reference.json")) as f:
        ref = json.load(f)
    with open(path(tier), "rb") as f:
        import hashlib
        assert hashlib.sha256(f.read()).hexdigest() == ref["sha256"], "reference is stale"
    worst = 0.0
    for case in ref["cases"]:
        n = len(case["top"])
        status, _, doc = s.json("POST", "/v1/completions", {
            "prompt": case["text"], "max_tokens": n, "temperature": 0, "logprobs": ref["top"]})
        assert status == 200, doc
        assert doc["usage"]["prompt_tokens"] == case["prompt_tokens"], case["prompt"]
        ch = doc["choices"][0]
        assert ch["text"] == case["answer"], (case["prompt"], ch["text"], case["answer"])
        got = ch["logprobs"]["top_logprobs"]
        # The reference's last step may be the end token, which hearth does
        # not list; compare every position hearth generated.
        assert len(got) >= len(case["tokens"])
        for pos, want in enumerate(case["top"][:len(got)]):
            have = sorted(got[pos].values(), reverse=True)
            for (tok, lp), h in zip(want, have):
                worst = max(worst, abs(lp - h))
                assert abs(lp - h) < TOL, (case["prompt"], pos, lp, h)
            assert math.isclose(ch["logprobs"]["token_logprobs"][pos], want[0][1], abs_tol=TOL)
    print("%s: worst |hearth - pytorch| log-prob difference %.2e" % (tier, worst))
