# SPDX-License-Identifier: MIT
"""Checks of the evaluation tasks: deterministic output, no leaks between
splits, prompt lengths, the graders, and rows that `hearth eval` reads and
grades as graders.py does (through the C code of src/cli/eval.c when a C
compiler with jansson and PCRE2 is at hand).

    /usr/bin/python3 -m pytest -q eval/data/test_tasks.py

spam and capitals need the data from eval/data/fetch.sh; without it those
checks are skipped."""

import filecmp
import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import graders  # noqa: E402
import make_tasks  # noqa: E402

CACHE = os.path.join(HERE, "cache")
HAVE_DATA = (os.path.isdir(os.path.join(CACHE, "spam-assassin", "data"))
             and os.path.isfile(os.path.join(CACHE, "countries-list", "countries.min.json")))
TASKS = ["arithmetic", "spam", "capitals"] if HAVE_DATA else ["arithmetic"]
SPLITS = make_tasks.SPLITS


def _generate(out):
    make_tasks.main(["--cache", CACHE, "--out", str(out), "--tasks", ",".join(TASKS), "--quiet"])


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks-a")
    _generate(out)
    return out


@pytest.fixture(scope="module")
def rows(generated):
    data = {}
    for task in TASKS:
        for split in SPLITS:
            with open(generated / task / f"{split}.jsonl", encoding="utf-8") as f:
                data[task, split] = [json.loads(line) for line in f]
    return data


def test_data_present():
    if not HAVE_DATA:
        pytest.skip("run eval/data/fetch.sh for the spam and capitals checks")


def test_deterministic(generated, tmp_path):
    _generate(tmp_path)
    names = ["SUMMARY.json"] + [f"{t}/{s}.jsonl" for t in TASKS for s in SPLITS]
    match, mismatch, errors = filecmp.cmpfiles(generated, tmp_path, names, shallow=False)
    assert mismatch == [] and errors == []


def test_row_fields(rows):
    for (task, split), rs in rows.items():
        ids = set()
        for r in rs:
            assert list(r)[:5] == ["id", "task", "prompt", "answer", "difficulty"]
            assert r["task"] == task and r["id"].startswith(f"{task}-{split}-")
            assert r["id"] not in ids
            ids.add(r["id"])
            assert r["answer"] == r["accept"][0]
            assert isinstance(r["prompt"], str) and isinstance(r["expected"], str)
            assert r["grader"] in ("exact", "numeric", "contains", "regex")
            assert "\0" not in r["prompt"]  # jansson refuses \u0000 without JSON_ALLOW_NUL


def test_sizes(rows):
    assert len(rows["arithmetic", "dev"]) == 1000
    assert len(rows["arithmetic", "test"]) == 2000
    assert len(rows["arithmetic", "train"]) >= 100000
    if HAVE_DATA:
        total = sum(len(rows["spam", s]) for s in SPLITS)
        assert 5500 <= total <= 6046
        n = {s: len(rows["spam", s]) for s in SPLITS}
        assert abs(n["test"] / total - 0.2) < 0.01 and abs(n["dev"] / total - 0.1) < 0.01


def test_arithmetic_balance(rows):
    for split in ("dev", "test"):
        count = {}
        for r in rows["arithmetic", split]:
            count[r["difficulty"]] = count.get(r["difficulty"], 0) + 1
        assert len(count) == 18
        big = [v for k, v in count.items() if not k.endswith("-1")]
        assert max(big) - min(big) <= 1
    train = {}
    for r in rows["arithmetic", "train"]:
        d = int(r["difficulty"].split("-")[1])
        train[d] = train.get(d, 0) + 1
    assert train[2] > train[3] > train[4] > train[5] > train[6] > 0 and train[1] > 0


def test_arithmetic_answers(rows):
    for split in SPLITS:
        for r in rows["arithmetic", split][:5000]:
            a, b = r["a"], r["b"]
            want = {"add": a + b, "sub": a - b, "mul": a * b}[r["op"]]
            assert r["answer"] == str(want)
            assert r["prompt"] == f"What is {a} {make_tasks.OPS[r['op']][0]} {b}?"
            assert r["difficulty"] == f"{r['op']}-{len(str(max(a, b)))}"


def test_no_leaks(rows):
    for task in TASKS:
        train = {r["prompt"] for r in rows[task, "train"]}
        dev = [r for r in rows[task, "dev"]]
        test = [r for r in rows[task, "test"]]
        if task == "capitals":
            # seen facts are the training prompts by design; unseen countries
            # are nowhere in train
            train_codes = {r["code"] for r in rows[task, "train"]}
            for r in dev + test:
                assert (r["code"] in train_codes) == (r["difficulty"] == "seen")
                if r["difficulty"] == "unseen":
                    assert r["prompt"] not in train
            unseen = lambda rs: {r["code"] for r in rs if r["difficulty"] == "unseen"}  # noqa: E731
            assert unseen(dev) and unseen(test) and not unseen(dev) & unseen(test)
            continue
        assert not train & {r["prompt"] for r in dev}
        assert not train & {r["prompt"] for r in test}
        assert not {r["prompt"] for r in dev} & {r["prompt"] for r in test}
        assert len({r["prompt"] for r in test}) == len(test)
        assert len({r["prompt"] for r in dev}) == len(dev)


def test_prompt_lengths(rows):
    for (task, split), rs in rows.items():
        for r in rs:
            assert make_tasks.est_tokens(r["prompt"]) <= make_tasks.PROMPT_TOKENS_MAX, r["id"]
            assert make_tasks.est_tokens(r["answer"]) <= 14, r["id"]
            assert len(r["prompt"].encode()) <= 300, r["id"]


@pytest.mark.skipif(not HAVE_DATA, reason="needs eval/data/fetch.sh")
def test_spam_rows(rows):
    for split in SPLITS:
        labels = {r["answer"] for r in rows["spam", split]}
        assert labels == {"spam", "ham"}
        for r in rows["spam", split]:
            assert r["prompt"].startswith("Classify this e-mail as spam or ham.\nSubject: ")
            assert (r["answer"] == "spam") == r["difficulty"].startswith("spam")
            assert "SpamAssassin results" not in r["prompt"] and "\ufffd" not in r["prompt"]
    sources = [r["source"] for s in SPLITS for r in rows["spam", s]]
    assert len(sources) == len(set(sources))


@pytest.mark.skipif(not HAVE_DATA, reason="needs eval/data/fetch.sh")
def test_capitals_rows(rows):
    by_q = {(r["code"], r["kind"]) for r in rows["capitals", "test"]}
    assert len(by_q) == len(rows["capitals", "test"])
    france = [r for r in rows["capitals", "train"] if r["code"] == "FR"]
    assert {r["answer"] for r in france if r["kind"] == "capital"} == {"Paris"}
    assert {r["answer"] for r in france if r["kind"] == "continent"} == {"Europe"}
    assert len(france) == 6
    codes = {r["code"] for s in SPLITS for r in rows["capitals", s]}
    assert not codes & {"AQ", "BV", "HM", "MO", "UM"}  # no capital in the data


# ---- graders -------------------------------------------------------------------------

GRADE_CASES = [
    ("arithmetic", "499", "499", True),
    ("arithmetic", "499", " 499.\n", True),
    ("arithmetic", "499", "The answer is 499.", True),
    ("arithmetic", "499", "499.0", True),
    ("arithmetic", "1234567", "1,234,567", True),
    ("arithmetic", "-35", "-35", True),
    ("arithmetic", "-35", "35", False),
    ("arithmetic", "35", "-35", False),
    ("arithmetic", "499", "498", False),
    ("arithmetic", "499", "4990", False),
    ("arithmetic", "499", "499.5", False),
    ("arithmetic", "499", "482 + 17 = 499", False),
    ("arithmetic", "1234", "12,34", False),
    ("arithmetic", "499", "", False),
    ("arithmetic", "499", "four hundred", False),
    ("spam", "spam", "spam", True),
    ("spam", "spam", "Spam.", True),
    ("spam", "spam", "**SPAM**", True),
    ("spam", "ham", " ham\n", True),
    ("spam", "spam", "ham", False),
    ("spam", "ham", "spam", False),
    ("spam", "spam", "This is spam", False),
    ("spam", "spam", "spammy", False),
    ("spam", "ham", "", False),
    ("capitals", "Paris", "Paris", True),
    ("capitals", "Paris", " paris.\n", True),
    ("capitals", "Bogotá", "Bogota", True),
    ("capitals", "Bogotá", "BOGOTÁ", True),
    ("capitals", "St. George's", "St Georges", True),
    ("capitals", "Port-au-Prince", "Port au Prince", True),
    ("capitals", ["Ulan Bator", "Ulaanbaatar"], "Ulaanbaatar", True),
    ("capitals", ["Asia", "Europe"], "Europe", True),
    ("capitals", "Paris", "Lyon", False),
    ("capitals", "Paris", "The capital is Paris.", False),
    ("capitals", ["Asia", "Europe"], "Africa", False),
    ("capitals", "Paris", "", False),
]


@pytest.mark.parametrize("task,expected,got,ok", GRADE_CASES)
def test_grade(task, expected, got, ok):
    assert graders.grade(task, expected, got) is ok


@pytest.mark.parametrize("task,expected,got,ok", GRADE_CASES)
def test_hearth_row_agrees(task, expected, got, ok):
    grader, pattern = graders.hearth_row(task, expected)
    assert graders.hearth_grade(grader, got, pattern) is ok


def test_grader_cli(capsys):
    assert graders.main(["grade", "arithmetic", "-35", "-35"]) == 0
    assert graders.main(["grade", "spam", "ham", "spam"]) == 1
    assert capsys.readouterr().out.split() == ["right", "wrong"]


def test_regrade_cli(tmp_path, capsys):
    data = [make_tasks.make_row("arithmetic", "test", i, f"What is {i} + 1?", str(i + 1), "add-1")
            for i in range(3)]
    details = [{"prompt": r["prompt"], "expected": r["expected"], "local_answer": a,
                "local_correct": a == r["answer"], "cloud_answer": r["answer"],
                "cloud_correct": True} for r, a in zip(data, ["1", "0", "3"])]
    for name, rs in (("d.jsonl", data), ("x.jsonl", details)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rs))
    graders.main(["regrade", "--data", str(tmp_path / "d.jsonl"),
                  "--details", str(tmp_path / "x.jsonl")])
    assert "| arithmetic | add-1 | 3 | 66.7% | 66.7% | 100.0% | 100.0% |" in capsys.readouterr().out


# ---- the rows through hearth eval's own code -----------------------------------------

HARNESS = r"""
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <math.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
@GRADERS@
/* Read items as eval_run.c's read_items() does; for each, "E" when
 * item_from() would refuse it, else one 0/1 per string in "probes". */
int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "r");
    json_error_t je;
    json_t *row;
    if (!f) return 2;
    while ((row = json_loadf(f, JSON_DISABLE_EOF_CHECK, &je))) {
        const char *p = json_string_value(json_object_get(row, "prompt"));
        const char *e = json_string_value(json_object_get(row, "expected"));
        const char *g = json_string_value(json_object_get(row, "grader"));
        g = g ? g : "exact";
        if (!p || !e || !hr__eval_grader_known(g)) {
            putchar('E');
        } else {
            json_t *probes = json_object_get(row, "probes");
            for (size_t i = 0; i < json_array_size(probes); i++)
                putchar(hr__eval_grade(g, json_string_value(json_array_get(probes, i)), e) ? '1' : '0');
        }
        putchar('\n');
        json_decref(row);
    }
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\r' || c == '\t') {
    }
    return c == EOF ? 0 : 3;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    src = os.path.join(REPO, "src", "cli", "eval.c")
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not os.path.isfile(src):
        pytest.skip("no C compiler or no src/cli/eval.c")
    with open(src, encoding="utf-8") as f:
        code = f.read()
    start, end = code.find("static void trim("), code.find("/* ---- the report")
    if start < 0 or end < 0:
        pytest.skip("src/cli/eval.c changed shape")
    d = tmp_path_factory.mktemp("harness")
    (d / "h.c").write_text(HARNESS.replace("@GRADERS@", code[start:end]))
    r = subprocess.run([cc, "-O1", "-o", str(d / "h"), str(d / "h.c"), "-ljansson", "-lpcre2-8",
                        "-lm"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot build against jansson and PCRE2: " + r.stderr[-300:])
    return str(d / "h")


def _probes(row, others):
    """Answers that should be right and answers that should be wrong."""
    task, ans = row["task"], row["answer"]
    probes = [ans, f" {ans}.", ans + "\n", ans.upper(), ans.lower()]
    if task == "arithmetic":
        n = int(ans)
        probes += [str(n + 1), str(n - 1), str(n * 10), f"{n:,}", f"{n}.0", "= " + ans,
                   str(-n) if n else "1"]
    elif task == "spam":
        probes += [ans.capitalize() + ".", "**" + ans + "**",
                   "ham" if ans == "spam" else "spam", "It is " + ans]
    else:
        plain = graders._strip_variants(ans)[-1]
        probes += [plain, plain.lower()] + row["accept"][1:]
        probes += [o for o in others if graders.fold(o) not in map(graders.fold, row["accept"])][:2]
    return probes


def _check_through_c(harness, rs, tmp_path):
    answers = sorted({r["answer"] for r in rs})
    path = tmp_path / "probe.jsonl"
    want = []
    with open(path, "w", encoding="utf-8") as f:
        for i, r in enumerate(rs):
            others = [answers[(i + k) % len(answers)] for k in (1, 7)]
            r = dict(r, probes=_probes(r, others))
            want.append("".join("1" if graders.grade(r["task"], r["accept"], p) else "0"
                                for p in r["probes"]))
            for p in r["probes"]:  # the Python mirror of eval.c agrees too
                assert graders.hearth_grade(r["grader"], p, r["expected"]) == \
                    graders.grade(r["task"], r["accept"], p), (r["id"], p)
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    out = subprocess.run([harness, str(path)], capture_output=True, text=True)
    assert out.returncode == 0
    got = out.stdout.split("\n")[:-1]
    assert len(got) == len(rs)
    for r, w, g in zip(rs, want, got):
        assert g == w, (r["id"], r["expected"], _probes(r, []), g, w)


@pytest.mark.parametrize("task", TASKS)
def test_rows_through_hearth_graders(harness, rows, task, tmp_path):
    rs = rows[task, "dev"] + rows[task, "test"] + rows[task, "train"][:3000]
    _check_through_c(harness, rs, tmp_path)


def test_files_parse_as_hearth_reads_them(harness, generated, tmp_path):
    for task in TASKS:
        for split in SPLITS:
            out = subprocess.run([harness, str(generated / task / f"{split}.jsonl")],
                                 capture_output=True, text=True)
            assert out.returncode == 0 and "E" not in out.stdout, (task, split)
