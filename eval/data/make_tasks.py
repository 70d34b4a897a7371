#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_tasks.py -- generate the evaluation tasks into eval/data/tasks/.

  tasks/<task>/{train,dev,test}.jsonl   one item a line
  tasks/SUMMARY.json                    counts per task, split and difficulty

Tasks: arithmetic (generated), spam (the SpamAssassin corpus) and capitals
(countries-list); run fetch.sh first for the two data sets. The output is the
same bytes on every run: fixed seeds, sha256-based splits, sorted inputs.

Each row is directly usable by `hearth eval --data`: "prompt", "expected" and
"grader" are the fields it reads (see graders.hearth_row); "answer" is the
plain answer a model is trained on, "accept" every answer graded right.
"""

import argparse
import email
import email.header
import hashlib
import html
import json
import os
import random
import re
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import graders  # noqa: E402

SPLITS = ("train", "dev", "test")
PROMPT_TOKENS_MAX = 90  # the models' context is 128 tokens, chat template and answer included


def est_tokens(text):
    """A SentencePiece token estimate: a token per digit (the tokenizer splits
    digits), a token per 3 other ASCII characters, a token per UTF-8 byte of
    anything else (byte fallback)."""
    digits = sum(c.isdigit() for c in text if c.isascii())
    other = sum(1 for c in text if c.isascii() and not c.isdigit())
    wide = sum(len(c.encode()) for c in text if not c.isascii())
    return digits + (other + 2) // 3 + wide


def stable_hash(*parts):
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def make_row(task, split, n, prompt, accept, difficulty, **extra):
    accept = [accept] if isinstance(accept, str) else list(accept)
    grader, expected = graders.hearth_row(task, accept)
    row = {
        "id": f"{task}-{split}-{n:06d}",
        "task": task,
        "prompt": prompt,
        "answer": accept[0],
        "difficulty": difficulty,
        "expected": expected,
        "grader": grader,
        "accept": accept,
    }
    row.update(extra)
    return row


# ---- arithmetic --------------------------------------------------------------------

OPS = {"add": ("+", lambda a, b: a + b), "sub": ("-", lambda a, b: a - b),
       "mul": ("*", lambda a, b: a * b)}
DIGITS = range(1, 7)
# Training rows per op and size (digits of the larger operand): many small,
# fewer large. The 1-digit pool is 100 pairs per op and the 2-digit one 9,900,
# so those rows repeat their pairs (ids stay unique).
ARITH_TRAIN = {1: 3000, 2: 20000, 3: 16000, 4: 12000, 5: 8000, 6: 6000}
# Of the 100 1-digit pairs per op, these go to test and dev (the rest trains).
ARITH_SMALL_HELDOUT = {"test": 20, "dev": 10}
ARITH_SIZES = {"test": 2000, "dev": 1000}


def _arith_tag(op, d):
    return f"{op}-{d}"


def _draw_pair(rng, d):
    """Operands whose larger one has d digits; the other's digit count is
    uniform in 1..d; either order."""
    lo = 0 if d == 1 else 10 ** (d - 1)
    big = rng.randint(lo, 10 ** d - 1)
    k = rng.randint(1, d)
    small = rng.randint(0 if k == 1 else 10 ** (k - 1), 10 ** k - 1)
    return (big, small) if rng.random() < 0.5 else (small, big)


def _pool(d):
    """Every pair whose larger operand has d digits (d <= 2), sorted."""
    top = 10 ** d
    return [(a, b) for a in range(top) for b in range(top) if max(a, b) >= top // 10 or d == 1]


def _arith_quota(split):
    """Items per (op, digits) for a dev/test split: balanced across the 18
    tags, except that the 1-digit tags have only their held-out pairs."""
    tags = [(op, d) for op in OPS for d in DIGITS]
    quota = {(op, 1): ARITH_SMALL_HELDOUT[split] for op in OPS}
    rest = [t for t in tags if t[1] > 1]
    left = ARITH_SIZES[split] - sum(quota.values())
    for i, t in enumerate(rest):
        quota[t] = left // len(rest) + (1 if i < left % len(rest) else 0)
    return quota


def arithmetic():
    rng = random.Random(20240601)
    held = {s: [] for s in ("dev", "test")}
    train = []
    quotas = {s: _arith_quota(s) for s in held}
    for op in OPS:
        for d in DIGITS:
            if d <= 2:
                pool = _pool(d)
                rng.shuffle(pool)
                nt, nd = quotas["test"][(op, d)], quotas["dev"][(op, d)]
                held["test"] += [(op, d, p) for p in pool[:nt]]
                held["dev"] += [(op, d, p) for p in pool[nt:nt + nd]]
                rest = pool[nt + nd:]
                want = ARITH_TRAIN[d]
                reps = [rest[i % len(rest)] for i in range(want)]
                train += [(op, d, p) for p in reps]
                continue
            seen = set()
            for split in ("test", "dev"):
                picked = []
                while len(picked) < quotas[split][(op, d)]:
                    p = _draw_pair(rng, d)
                    if p not in seen:
                        seen.add(p)
                        picked.append(p)
                held[split] += [(op, d, p) for p in picked]
            picked = []
            while len(picked) < ARITH_TRAIN[d]:
                p = _draw_pair(rng, d)
                if p not in seen:
                    seen.add(p)
                    picked.append(p)
            train += [(op, d, p) for p in picked]
    items = {"train": train, **held}
    out = {}
    for split in SPLITS:
        rng.shuffle(items[split])
        rows = []
        for n, (op, d, (a, b)) in enumerate(items[split]):
            sym, fn = OPS[op]
            rows.append(make_row("arithmetic", split, n, f"What is {a} {sym} {b}?", str(fn(a, b)),
                                 _arith_tag(op, d), op=op, a=a, b=b))
        out[split] = rows
    return out, {}


# ---- spam --------------------------------------------------------------------------

SPAM_PROMPT = "Classify this e-mail as spam or ham.\nSubject: "
SPAM_SUBJECT_CHARS = 60
SPAM_BODY_BYTES = 200
SPAM_SPLIT = (("train", 70), ("dev", 10), ("test", 20))  # per cent, within each subset

_HTML_HINT = re.compile(r"<\s*(?:html|body|table|div|font|p|br|a\s|img|center|td)\b", re.I)
_HTML_DROP = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_TAG = re.compile(r"<[^<>]{0,2000}>", re.S)
_SPACE = re.compile(r"\s+")


def _clean(text):
    """Text without control characters (jansson refuses U+0000), replacement
    characters and runs of whitespace."""
    text = "".join(" " if (unicodedata.category(c) in ("Cc", "Cs", "Co") or c == "\ufffd")
                   else c for c in text)
    return _SPACE.sub(" ", text).strip()


def _strip_html(text):
    text = _HTML_DROP.sub(" ", text)
    text = re.sub(r"<\s*(?:br|p|div|tr|li)\b[^>]*>", " ", text, flags=re.I)
    text = _TAG.sub("", text)
    return html.unescape(text)


_META_CHARSET = re.compile(rb"""charset=(?:3D)?["']?([A-Za-z0-9_.:-]+)""", re.I)
# Lines a SpamAssassin install added to some bodies: they would give the label away.
_SA_REPORT = re.compile(r"^(?:SPAM:.*|PAM: -+ Start SpamAssassin results.*|BAD MSG:\s*)$\n?",
                        re.M)


def _decode(payload, charset):
    """payload as text: with its declared charset, else the one an HTML meta
    tag names, else UTF-8 when it is valid, else Latin-1; bad bytes become
    U+FFFD (dropped later)."""
    if charset:
        try:
            return payload.decode(charset, errors="replace")
        except (LookupError, ValueError):
            pass
    m = _META_CHARSET.search(payload)
    if m:
        try:
            return payload.decode(m.group(1).decode("ascii"), errors="replace")
        except (LookupError, ValueError):
            pass
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


def _subject(msg):
    raw = msg.get("Subject", "") or ""
    try:
        parts = email.header.decode_header(str(raw))
        text = "".join(_decode(p, cs) if isinstance(p, bytes) else p for p, cs in parts)
    except Exception:  # malformed encoded-words: keep the raw header
        text = str(raw)
    return _clean(text)


def _body(msg):
    """The first text/plain part, else the first text/html one, as plain text."""
    parts = {"text/plain": None, "text/html": None}
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in parts and parts[ctype] is None and not part.is_multipart():
            payload = part.get_payload(decode=True)
            if payload is None:
                payload = str(part.get_payload()).encode("latin-1", errors="replace")
            parts[ctype] = _decode(payload, part.get_content_charset())
    text, was_html = parts["text/plain"], False
    if text is None or not text.strip():
        text, was_html = parts["text/html"], True
    if text is None:  # an unparsable content type: the raw payload
        payload = msg.get_payload(decode=True)
        text = _decode(payload, None) if isinstance(payload, bytes) else str(msg.get_payload())
    text = _SA_REPORT.sub("", text)
    if was_html or _HTML_HINT.search(text):
        text = _strip_html(text)
    return _clean(text)


def _truncate_bytes(text, limit):
    """At most limit UTF-8 bytes of text, cut at a word boundary when one is near."""
    b = text.encode()
    if len(b) <= limit:
        return text
    cut = b[:limit].decode("utf-8", errors="ignore")
    sp = cut.rfind(" ")
    return cut[:sp] if sp >= limit // 2 else cut


def spam_prompt(subject, body):
    """The prompt, shortened to fit PROMPT_TOKENS_MAX."""
    subject = _truncate_bytes(subject, SPAM_SUBJECT_CHARS) or "(none)"
    head = SPAM_PROMPT + subject + "\n"
    limit = SPAM_BODY_BYTES
    while True:
        prompt = head + _truncate_bytes(body, limit)
        if est_tokens(prompt) <= PROMPT_TOKENS_MAX or limit == 0:
            return prompt.rstrip()
        limit = max(0, limit - 10)


def spam(cache):
    root = os.path.join(cache, "spam-assassin", "data")
    if not os.path.isdir(root):
        sys.exit(f"make_tasks: {root} is missing; run eval/data/fetch.sh first")
    messages = []
    for subset in sorted(os.listdir(root)):
        d = os.path.join(root, subset)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".txt"):
                continue
            with open(os.path.join(d, name), "rb") as f:
                raw = f.read()
            msg = email.message_from_bytes(raw)
            label = "spam" if subset.startswith("spam") else "ham"
            prompt = spam_prompt(_subject(msg), _body(msg))
            messages.append((f"{subset}/{name}", subset, label, prompt))
    stats = {"messages": len(messages)}
    # Identical prompts (resent messages, the same spam to two addresses) are
    # kept once, with the first file in sorted order; prompts with both labels
    # are dropped.
    by_prompt = {}
    for m in messages:
        by_prompt.setdefault(m[3], []).append(m)
    kept, dup, conflict = [], 0, 0
    for prompt in sorted(by_prompt):
        group = by_prompt[prompt]
        if len({m[2] for m in group}) > 1:
            conflict += len(group)
            continue
        dup += len(group) - 1
        kept.append(group[0])
    stats["duplicate_prompts_dropped"] = dup
    stats["conflicting_label_messages_dropped"] = conflict
    # Stratified split: within each subset, order by sha256 of the file name
    # and cut at 70/10/20 per cent.
    assigned = {s: [] for s in SPLITS}
    for subset in sorted({m[1] for m in kept}):
        group = sorted((m for m in kept if m[1] == subset), key=lambda m: stable_hash("spam", m[0]))
        start = 0
        for i, (split, pct) in enumerate(SPAM_SPLIT):
            end = len(group) if i == len(SPAM_SPLIT) - 1 else start + round(len(group) * pct / 100)
            assigned[split] += group[start:end]
            start = end
    out = {}
    for split in SPLITS:
        group = sorted(assigned[split], key=lambda m: stable_hash("spam-order", m[0]))
        out[split] = [make_row("spam", split, n, prompt, label, subset, source=path)
                      for n, (path, subset, label, prompt) in enumerate(group)]
    return out, stats


# ---- capitals ------------------------------------------------------------------------

CAPITAL_TEMPLATES = ("What is the capital of {c}?", "What is the capital city of {c}?",
                     "Name the capital of {c}.")
CONTINENT_TEMPLATES = ("Which continent is {c} in?", "On which continent is {c}?",
                       "{c} is on which continent?")
UNSEEN_PCT = 20          # countries held out of train, per continent
UNSEEN_DEV_SHARE = 3     # of the held-out countries, one in 3 goes to dev, the rest to test
# Other spellings of a capital that are graded right as well.
CAPITAL_ALIASES = {
    "Kyiv": ["Kiev"],
    "Naypyidaw": ["Nay Pyi Taw", "Naypyitaw"],
    "Ulan Bator": ["Ulaanbaatar"],
    "Washington D.C.": ["Washington", "Washington, D.C."],
    "City of Victoria": ["Victoria"],
}


def capitals(cache):
    root = os.path.join(cache, "countries-list")
    path = os.path.join(root, "countries.min.json")
    if not os.path.isfile(path):
        sys.exit(f"make_tasks: {path} is missing; run eval/data/fetch.sh first")
    with open(path, encoding="utf-8") as f:
        countries = json.load(f)
    with open(os.path.join(root, "continents.min.json"), encoding="utf-8") as f:
        continent_names = json.load(f)
    facts = []
    skipped = []
    for code in sorted(countries):
        c = countries[code]
        if not c.get("capital"):
            skipped.append(code)
            continue
        conts = c.get("continents") or [c["continent"]]
        continents = [continent_names[c["continent"]]] + sorted(
            continent_names[x] for x in conts if x != c["continent"])
        capital = [c["capital"]] + CAPITAL_ALIASES.get(c["capital"], [])
        facts.append((code, c["name"], c["continent"], capital, continents))
    # Held-out countries: per continent, the UNSEEN_PCT per cent first by
    # sha256 of the code; of those every UNSEEN_DEV_SHARE-th is for dev.
    unseen = {}
    for cont in sorted({f[2] for f in facts}):
        group = sorted((f for f in facts if f[2] == cont), key=lambda f: stable_hash("cap", f[0]))
        k = round(len(group) * UNSEEN_PCT / 100)
        for i, f in enumerate(group[:k]):
            unseen[f[0]] = "dev" if i % UNSEEN_DEV_SHARE == 0 else "test"
    items = {s: [] for s in SPLITS}
    for code, name, _, capital, continents in facts:
        for kind, templates, accept in (("capital", CAPITAL_TEMPLATES, capital),
                                        ("continent", CONTINENT_TEMPLATES, continents)):
            if code not in unseen:
                for t, tmpl in enumerate(templates):
                    items["train"].append((code, name, kind, t, accept, "seen"))
            # one template per item in dev and test, a different one in each
            t = int(stable_hash("cap-t", code, kind), 16) % len(templates)
            for split, shift in (("test", 0), ("dev", 1)):
                if code not in unseen:
                    items[split].append((code, name, kind, (t + shift) % len(templates), accept,
                                         "seen"))
                elif unseen[code] == split:
                    items[split].append((code, name, kind, t, accept, "unseen"))
    out = {}
    for split in SPLITS:
        group = sorted(items[split], key=lambda x: stable_hash("cap-order", split, x[0], x[2],
                                                               str(x[3])))
        rows = []
        for n, (code, name, kind, t, accept, diff) in enumerate(group):
            tmpl = (CAPITAL_TEMPLATES if kind == "capital" else CONTINENT_TEMPLATES)[t]
            rows.append(make_row("capitals", split, n, tmpl.format(c=name), accept, diff,
                                 kind=kind, country=name, code=code, template=t))
        out[split] = rows
    stats = {"countries": len(countries), "skipped_no_capital": skipped,
             "unseen_countries": {s: sorted(c for c in unseen if unseen[c] == s)
                                  for s in ("dev", "test")}}
    return out, stats


# ---- output ----------------------------------------------------------------------------


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, separators=(", ", ": ")) + "\n")


def summarize(all_rows, stats):
    summary = {}
    for task in sorted(all_rows):
        t = {}
        for split in SPLITS:
            rows = all_rows[task][split]
            by_diff, by_answer = {}, {}
            for r in rows:
                by_diff[r["difficulty"]] = by_diff.get(r["difficulty"], 0) + 1
                if task != "arithmetic":
                    by_answer[r["answer"]] = by_answer.get(r["answer"], 0) + 1
            entry = {"n": len(rows), "difficulty": dict(sorted(by_diff.items())),
                     "prompt_tokens_est_max": max((est_tokens(r["prompt"]) for r in rows),
                                                  default=0)}
            if task == "spam":
                entry["labels"] = dict(sorted(by_answer.items()))
            t[split] = entry
        if stats.get(task):
            t["source"] = stats[task]
        summary[task] = t
    return summary


def table(summary):
    lines = ["| task | difficulty | train | dev | test |", "|---|---|---:|---:|---:|"]
    for task in sorted(summary):
        diffs = sorted({d for s in SPLITS for d in summary[task][s]["difficulty"]})
        for d in diffs:
            cells = [str(summary[task][s]["difficulty"].get(d, 0)) for s in SPLITS]
            lines.append(f"| {task} | {d} | " + " | ".join(cells) + " |")
        lines.append(f"| {task} | **all** | " +
                     " | ".join(str(summary[task][s]["n"]) for s in SPLITS) + " |")
    return "\n".join(lines)


GENERATORS = {"arithmetic": lambda cache: arithmetic(), "spam": spam, "capitals": capitals}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=os.path.join(HERE, "cache"), help="where fetch.sh put the data")
    ap.add_argument("--out", default=os.path.join(HERE, "tasks"), help="output folder")
    ap.add_argument("--tasks", default=",".join(GENERATORS), help="comma-separated subset")
    ap.add_argument("--quiet", action="store_true", help="print no table")
    args = ap.parse_args(argv)
    wanted = [t for t in args.tasks.split(",") if t]
    for t in wanted:
        if t not in GENERATORS:
            ap.error(f"unknown task {t}")
    all_rows, stats = {}, {}
    for task in wanted:
        all_rows[task], stats[task] = GENERATORS[task](args.cache)
        os.makedirs(os.path.join(args.out, task), exist_ok=True)
        for split in SPLITS:
            write_jsonl(os.path.join(args.out, task, f"{split}.jsonl"), all_rows[task][split])
    summary = summarize(all_rows, stats)
    with open(os.path.join(args.out, "SUMMARY.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(summary, f, ensure_ascii=False, indent=2)
        f.write("\n")
    if not args.quiet:
        print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
