# SPDX-License-Identifier: MIT
"""tok.py -- the SentencePiece tokenizer of the evaluation models, and the
exact token sequences the models are trained on.

llama.cpp's SPM tokenizer applies merges by score, which reproduces a
SentencePiece *BPE* model (not a unigram one), does no Unicode normalisation
and adds no dummy prefix when the GGUF says so; the trainer options below
match that. Special tokens are split out before SentencePiece sees the text,
as llama.cpp does with parse_special."""

import io
import re

import sentencepiece as spm

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIALS = [IM_START, IM_END]
_SPLIT = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")

# ChatML, the template llama.cpp recognises by "<|im_start|>".
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def chat_prompt(prompt):
    """The text hearth builds from one user message with the template above."""
    return f"{IM_START}user\n{prompt}{IM_END}\n{IM_START}assistant\n"


def train(sentences, model_prefix, vocab_size):
    """Train a byte-fallback BPE model on an iterable of strings (deterministic:
    one thread, input order kept)."""
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=buf,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=0.9995,
        byte_fallback=True,
        split_digits=True,
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        user_defined_symbols=SPECIALS,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1,
        shuffle_input_sentence=False,
        max_sentence_length=8192,
        allow_whitespace_only_pieces=True,
        split_by_whitespace=True,
    )
    with open(model_prefix + ".model", "wb") as f:
        f.write(buf.getvalue())
    return load(model_prefix + ".model")


class Tokenizer:
    def __init__(self, sp):
        self.sp = sp
        self.bos = sp.bos_id()
        self.im_start = sp.piece_to_id(IM_START)
        self.im_end = sp.piece_to_id(IM_END)
        self.eos = self.im_end  # generation ends at <|im_end|>

    def encode(self, text):
        """Like llama_tokenize(text, add_special=false, parse_special=true)."""
        ids = []
        for part in _SPLIT.split(text):
            if part in SPECIALS:
                ids.append(self.sp.piece_to_id(part))
            elif part:
                ids.extend(self.sp.encode(part))
        return ids

    def example(self, prompt, answer):
        """Token ids of one training example and the index where the answer
        starts: [BOS] chat_prompt(prompt) answer <|im_end|>."""
        p = [self.bos] + self.encode(chat_prompt(prompt))
        a = self.sp.encode(answer) + [self.im_end]
        return p + a, len(p)

    def decode(self, ids):
        return self.sp.decode([i for i in ids if i not in (self.im_start, self.im_end)])


def load(path):
    return Tokenizer(spm.SentencePieceProcessor(model_file=path))
