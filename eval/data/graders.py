#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""graders.py -- grading of the evaluation tasks, and the rows' graders for
`hearth eval`.

grade(task, expected, got) is the reference grade of one answer:
  arithmetic  the first number in `got` (an optional minus sign, digits with
              optional thousands commas, an optional fraction) equals the
              expected integer: "499", " 499.", "= 499", "1,234" and "499.0"
              are right, "499.5", "4 99", "12,34" and "482 + 17 = 499"
              are not.
  spam        the first word of `got`, lowercased, is the expected label.
  capitals    case-, diacritics-, whitespace- and punctuation-insensitive
              equality: "bogota" and "Bogotá." both match "Bogotá".
`expected` is one answer or a list of accepted answers (the rows' "accept").

hearth_row(task, accept) gives the "grader" and "expected" fields that make
`hearth eval` grade a row the same way with its built-in graders (exact,
numeric, contains, regex; src/cli/eval.c); hearth_grade() mirrors those
graders here so that the two can be checked against each other.

The CLI grades one answer, or regrades a `hearth eval --details` file against
the data file it came from and prints accuracy per difficulty:
  graders.py grade TASK EXPECTED GOT
  graders.py regrade --data test.jsonl --details details.jsonl
"""

import argparse
import json
import math
import re
import sys
import unicodedata

TASKS = ("arithmetic", "spam", "capitals")

# ---- the reference graders ------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
_PLAIN = re.compile(r"-?\d+(?:\.\d+)?")
_GROUPED = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_WORD = re.compile(r"\w+")


def first_number(text):
    """The first number in text ("1,234.50" -> "1234.50"), or None when there
    is none or it is malformed ("1.2.3", "12,34")."""
    m = _NUMBER.search(text)
    if not m:
        return None
    token = m.group(0)
    if _PLAIN.fullmatch(token):
        return token
    if _GROUPED.fullmatch(token):
        return token.replace(",", "")
    return None


def _same_integer(number, expected):
    whole, _, frac = number.partition(".")
    if frac.strip("0"):
        return False
    try:
        return int(whole) == int(expected)
    except ValueError:
        return False


def fold(text):
    """text without case, diacritics, whitespace and punctuation."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed.casefold()
                   if c.isalnum() and not unicodedata.combining(c))


def _grade_one(task, expected, got):
    if task == "arithmetic":
        n = first_number(got)
        return n is not None and _same_integer(n, expected.strip())
    if task == "spam":
        m = _WORD.search(got)
        return bool(m) and m.group(0).lower() == expected.strip().lower()
    if task == "capitals":
        return fold(got) != "" and fold(got) == fold(expected)
    raise ValueError(f"unknown task {task!r}")


def grade(task, expected, got):
    """True when `got` is a right answer; expected: a string or a list of them."""
    if got is None:
        return False
    options = [expected] if isinstance(expected, str) else list(expected)
    return any(_grade_one(task, e, got) for e in options)


# ---- hearth eval's built-in graders -----------------------------------------------


def _strip_variants(answer):
    """answer, and answer without diacritics when it has some."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", answer)
                    if not unicodedata.combining(c))
    return [answer] if plain == answer else [answer, plain]


def _loose(literal):
    """A PCRE2 (and Python re) pattern for literal in which the punctuation
    is optional: "St. George's" also matches "St George's" and "St Georges"."""
    out = []
    for c in literal:
        if c.isalnum():
            out.append(re.escape(c))
        elif c == " ":
            out.append(" ")
        elif c in "'\u2019":
            out.append("['\u2019]?")
        elif c == "-":
            out.append("[- ]?")
        else:
            out.append(re.escape(c) + "?")
    return "".join(out)


def hearth_row(task, accept):
    """(grader, expected) for a `hearth eval` row whose answers are accept."""
    accept = [accept] if isinstance(accept, str) else list(accept)
    if task == "arithmetic":
        # Not "numeric": it compares with a relative tolerance of 1e-6, so from
        # seven digits on it would take an answer that is off by a few.
        (value,) = accept
        n = int(value)
        digits = str(abs(n))
        forms = [digits]
        if len(digits) > 3:
            head = len(digits) % 3 or 3
            groups = [digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)]
            forms.append(",".join(groups))
        sign = "-" if n < 0 else "(?<!-)"
        return "regex", (r"^\D*" + sign + "0*(?:" + "|".join(forms) + r")(?:\.0+)?(?!\d|[.,]\d)")
    if task == "spam":
        (label,) = accept
        return "regex", r"(?i)^\W*" + re.escape(label) + r"\b"
    if task == "capitals":
        simple = len(accept) == 1 and re.fullmatch(r"[A-Za-z]+(?: [A-Za-z]+)*", accept[0])
        if simple:
            return "exact", accept[0]
        variants = []
        for a in accept:
            for v in _strip_variants(a):
                if v not in variants:
                    variants.append(v)
        alts = "|".join(_loose(v) for v in variants)
        return "regex", r"(?i)^\s*(?:" + alts + r")[\s.]*$"
    raise ValueError(f"unknown task {task!r}")


def _hearth_trim(s):
    s = s.lstrip(" \t\r\n")
    return s.rstrip(" \t\r\n.")


def _hearth_number(s):
    """The first number as eval.c's first_number() reads it with strtod
    (decimal forms only)."""
    m = re.search(r"\d|[-.]\d", s)
    if not m:
        return math.nan
    num = re.match(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", s[m.start():])
    return float(num.group(0)) if num else math.nan


def hearth_grade(grader, answer, expected):
    """What src/cli/eval.c's hr__eval_grade() returns (regex through Python's
    re, which agrees with PCRE2 on the patterns hearth_row() writes)."""
    a, e = _hearth_trim(answer), _hearth_trim(expected)
    if grader in (None, "exact"):
        return a.encode().lower() == e.encode().lower()  # strncasecmp: ASCII case only
    if grader == "numeric":
        x, y = _hearth_number(answer), _hearth_number(expected)
        return not math.isnan(x) and not math.isnan(y) and abs(x - y) <= 1e-6 * max(1.0, abs(y))
    if grader == "contains":
        return e.lower() in a.lower()
    if grader == "regex":
        try:
            return re.search(expected, answer) is not None
        except re.error:
            return False
    raise ValueError(f"unknown grader {grader!r}")


# ---- the CLI ------------------------------------------------------------------------


def _read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _regrade(data_path, details_path):
    rows, details = _read_jsonl(data_path), _read_jsonl(details_path)
    if len(rows) != len(details):
        sys.exit(f"graders: {data_path} has {len(rows)} rows, {details_path} {len(details)}")
    table = {}
    for row, d in zip(rows, details):
        if row["prompt"] != d.get("prompt"):
            sys.exit(f"graders: row {row['id']} does not match its details line")
        t = table.setdefault((row["task"], row["difficulty"]), [0, 0, 0, 0, 0])
        t[0] += 1
        t[1] += grade(row["task"], row["accept"], d.get("local_answer") or "")
        t[2] += bool(d.get("local_correct"))
        if d.get("cloud_answer") is not None:
            t[3] += grade(row["task"], row["accept"], d["cloud_answer"])
            t[4] += bool(d.get("cloud_correct"))
    print("| task | difficulty | n | local | local (hearth) | cloud | cloud (hearth) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (task, diff), (n, lo, lh, co, ch) in sorted(table.items()):
        print(f"| {task} | {diff} | {n} | {100 * lo / n:.1f}% | {100 * lh / n:.1f}% "
              f"| {100 * co / n:.1f}% | {100 * ch / n:.1f}% |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grade", help="grade one answer; exit 0 when right, 1 when wrong")
    g.add_argument("task", choices=TASKS)
    g.add_argument("expected")
    g.add_argument("got")
    r = sub.add_parser("regrade", help="regrade `hearth eval --details` output per difficulty")
    r.add_argument("--data", required=True, help="the JSONL given to hearth eval --data")
    r.add_argument("--details", required=True, help="the file hearth eval --details wrote")
    args = ap.parse_args(argv)
    if args.cmd == "grade":
        ok = grade(args.task, args.expected, args.got)
        print("right" if ok else "wrong")
        return 0 if ok else 1
    _regrade(args.data, args.details)
    return 0


if __name__ == "__main__":
    sys.exit(main())
