# SPDX-License-Identifier: MIT
"""reference.py -- what the PyTorch model says, for the test that checks
hearth's logits against it.

The model is rebuilt from the GGUF file itself (metadata and tensors read
back with gguf-py), so the reference and hearth run the very same weights;
the answers are generated greedily and, at each step, the top log-probs are
kept. tests/integration/test_eval_models.py asks hearth the same prompts.

    /usr/bin/python3 eval/train/reference.py eval/models/hearth-eval-local.gguf \
        eval/models/tokenizer.model > eval/models/hearth-eval-local.reference.json"""

import hashlib
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tok  # noqa: E402
from export import gguf  # noqa: E402  (gguf-py from the pinned llama.cpp source)
from model import Config, Llama  # noqa: E402

PROMPTS = [
    "What is 3 + 4?",
    "What is 57 * 8?",
    "What is 4821 - 3907?",
    "What is the capital of France?",
    "On which continent is Kenya?",
    "Classify this e-mail as spam or ham.\nSubject: You have WON a FREE prize!!!\n"
    "Click here now to claim your cash reward, limited time offer.",
    "Classify this e-mail as spam or ham.\nSubject: Re: patch for the build script\n"
    "Thanks, I tested it on my machine and the tests pass. Will merge tomorrow.",
]
TOP = 5
STEPS = 8


def field(reader, key):
    f = reader.fields[key]
    v = f.parts[f.data[0]]
    return v.tobytes().decode() if v.dtype == np.uint8 else v.item()


def load(path):
    r = gguf.GGUFReader(path)
    a = "llama."
    cfg = Config(vocab=len(r.fields["tokenizer.ggml.tokens"].data),
                 dim=field(r, a + "embedding_length"), n_layer=field(r, a + "block_count"),
                 n_head=field(r, a + "attention.head_count"),
                 n_head_kv=field(r, a + "attention.head_count_kv"),
                 ffn=field(r, a + "feed_forward_length"), n_ctx=field(r, a + "context_length"),
                 rope_base=field(r, a + "rope.freq_base"),
                 eps=field(r, a + "attention.layer_norm_rms_epsilon"))
    names = {"token_embd.weight": "tok.weight", "output_norm.weight": "norm.weight",
             "output.weight": "out.weight"}
    for i in range(cfg.n_layer):
        for g, t in (("attn_norm", "attn_norm"), ("attn_q", "wq"), ("attn_k", "wk"),
                     ("attn_v", "wv"), ("attn_output", "wo"), ("ffn_norm", "ffn_norm"),
                     ("ffn_gate", "w_gate"), ("ffn_up", "w_up"), ("ffn_down", "w_down")):
            names[f"blk.{i}.{g}.weight"] = f"blocks.{i}.{t}.weight"
    model = Llama(cfg)
    state = model.state_dict()
    for t in r.tensors:
        w = np.array(t.data, dtype=np.float32).reshape(state[names[t.name]].shape)
        state[names[t.name]] = torch.from_numpy(w)
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def reference(model, tk, prompt):
    text = tok.chat_prompt(prompt)
    ids = [tk.bos] + tk.encode(text)
    gen, tops = [], []
    for _ in range(STEPS):
        lp = torch.log_softmax(model(torch.tensor([ids + gen]))[0, -1].double(), -1)
        v, i = torch.topk(lp, TOP)
        tops.append([[int(a), float(b)] for a, b in zip(i, v)])
        nxt = int(i[0])
        if nxt == tk.eos:
            break
        gen.append(nxt)
    return {"prompt": prompt, "text": text, "prompt_tokens": len(ids), "tokens": gen,
            "answer": tk.decode(gen), "top": tops}


def main():
    path, tok_path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    model, tk = load(path), tok.load(tok_path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    out = {"model": os.path.basename(path), "sha256": digest, "top": TOP,
           "cases": [reference(model, tk, p) for p in PROMPTS]}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
