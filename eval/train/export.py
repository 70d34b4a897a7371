# SPDX-License-Identifier: MIT
"""export.py -- write a trained model and its tokenizer as a GGUF file that
llama.cpp (and so hearth) loads as architecture "llama".

Weights go in as PyTorch stores them, (out, in): gguf-py reverses the
dimensions itself, and adjacent-pair RoPE needs no Q/K permutation. The
vocabulary is SentencePiece's, with piece scores (llama.cpp merges by score)
and types; the ChatML markers are CONTROL tokens so that llama.cpp parses them
in prompts and never prints them."""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "third_party", "llama.cpp", "gguf-py"))

import gguf  # noqa: E402

from tok import CHAT_TEMPLATE, SPECIALS  # noqa: E402


def vocab_entries(tk):
    sp = tk.sp
    toks, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i)
        if sp.is_unknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.is_control(i) or piece in SPECIALS:
            t = gguf.TokenType.CONTROL
        elif sp.is_byte(i):
            t = gguf.TokenType.BYTE
        elif sp.is_unused(i):
            t = gguf.TokenType.UNUSED
        else:
            t = gguf.TokenType.NORMAL
        toks.append(piece.encode("utf-8"))
        scores.append(float(sp.get_score(i)))
        types.append(int(t))
    return toks, scores, types


def tensors(model, f16):
    """(name, array) in llama.cpp's LLAMA naming; norms stay F32 (ggml wants it)."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}

    def w(a):
        return a.astype(np.float16) if f16 and a.ndim == 2 else a.astype(np.float32)

    yield "token_embd.weight", w(sd["tok.weight"])
    for i in range(model.cfg.n_layer):
        p = f"blocks.{i}."
        b = f"blk.{i}."
        yield b + "attn_norm.weight", w(sd[p + "attn_norm.weight"])
        yield b + "attn_q.weight", w(sd[p + "wq.weight"])
        yield b + "attn_k.weight", w(sd[p + "wk.weight"])
        yield b + "attn_v.weight", w(sd[p + "wv.weight"])
        yield b + "attn_output.weight", w(sd[p + "wo.weight"])
        yield b + "ffn_norm.weight", w(sd[p + "ffn_norm.weight"])
        yield b + "ffn_gate.weight", w(sd[p + "w_gate.weight"])
        yield b + "ffn_up.weight", w(sd[p + "w_up.weight"])
        yield b + "ffn_down.weight", w(sd[p + "w_down.weight"])
    yield "output_norm.weight", w(sd["norm.weight"])
    yield "output.weight", w(sd["out.weight"])


def export(model, tk, path, name, f16=False, description=""):
    cfg = model.cfg
    wr = gguf.GGUFWriter(path, "llama")
    wr.add_name(name)
    if description:
        wr.add_description(description)
    wr.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
    wr.add_context_length(cfg.n_ctx)
    wr.add_embedding_length(cfg.dim)
    wr.add_block_count(cfg.n_layer)
    wr.add_feed_forward_length(cfg.ffn)
    wr.add_head_count(cfg.n_head)
    wr.add_head_count_kv(cfg.n_head_kv)
    wr.add_layer_norm_rms_eps(cfg.eps)
    wr.add_rope_dimension_count(cfg.head_dim)
    wr.add_rope_freq_base(cfg.rope_base)
    wr.add_vocab_size(cfg.vocab)

    toks, scores, types = vocab_entries(tk)
    wr.add_tokenizer_model("llama")
    wr.add_tokenizer_pre("default")
    wr.add_token_list(toks)
    wr.add_token_scores(scores)
    wr.add_token_types(types)
    wr.add_bos_token_id(tk.bos)
    wr.add_eos_token_id(tk.eos)
    wr.add_eot_token_id(tk.eos)
    wr.add_unk_token_id(tk.sp.unk_id())
    wr.add_add_bos_token(True)
    wr.add_add_eos_token(False)
    wr.add_add_space_prefix(False)
    wr.add_chat_template(CHAT_TEMPLATE)

    for n, a in tensors(model, f16):
        wr.add_tensor(n, a)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
