"""`python -m llm_core`: JSON shapes, and bad input → one line, non-zero exit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def cli(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "llm_core", *args], capture_output=True,
                          text=True, env=ENV, cwd=ROOT, input=stdin, timeout=600)


def ok_json(*args, stdin=None) -> dict:
    proc = cli(*args, "--json", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_info():
    out = ok_json("info")
    assert out["layers"] == 30 and out["heads"] == 9 and out["kv_heads"] == 3
    assert out["d_model"] == 576 and out["vocab"] == 49152 and out["tied_embeddings"] is True
    assert sum(k["parameters"] for k in out["kinds"]) == out["total_parameters"]
    assert out["device"] in ("cpu", "cuda", "cuda:0")


def test_tokens_shape_and_round_trip():
    out = ok_json("tokens", "The cat sat on the mat")
    assert [t["text"] for t in out["tokens"]][:2] == ["The", " cat"]
    assert set(out["tokens"][0]) >= {"id", "text", "start", "end"}
    assert out["round_trip"] is True
    enc = ok_json("tokens", "The cat sat", "--model", "minilm")
    assert [t["text"] for t in enc["tokens"]] == ["[CLS]", "the", "cat", "sat", "[SEP]"]
    assert enc["round_trip"] is False     # WordPiece lower-cases: honest answer
    piped = ok_json("tokens", "-", stdin="大语言模型")
    assert piped["round_trip"] is True and any(t.get("partial") for t in piped["tokens"])


def test_next():
    out = ok_json("next", "The capital of France is", "--n", "5", "--temperature", "0.5")
    cands = out["candidates"]
    assert len(cands) == 5 and cands[0]["token"] == " Paris"
    assert set(cands[0]) == {"token", "id", "logit", "prob"}
    assert cands[0]["prob"] >= cands[1]["prob"] and out["entropy"] >= 0
    greedy = ok_json("next", "The capital of France is", "--temperature", "0")
    assert greedy["candidates"][0]["prob"] == 1.0 and greedy["entropy"] == 0


def test_generate_greedy_and_seeded():
    out = ok_json("generate", "What is the capital of France?", "--chat", "--temperature", "0",
                  "--max-new-tokens", "12")
    assert "Paris" in out["text"]
    assert {"token", "prob", "entropy"} <= set(out["steps"][0])
    a = ok_json("generate", "Once upon a time", "--seed", "3", "--max-new-tokens", "8")
    b = ok_json("generate", "Once upon a time", "--seed", "3", "--max-new-tokens", "8")
    assert a["text"] == b["text"] and len(a["steps"]) <= 8


def test_analogy():
    out = ok_json("analogy", "king", "man", "woman", "--n", "3")
    assert out["results"][0]["word"] == "queen" and len(out["results"]) == 3
    assert ok_json("analogy", "king", "man", "woman", "--space", "model")["results"][0]["word"] == "queen"


def test_attention():
    out = ok_json("attention", "The cat sat on the mat", "--layer", "3", "--head", "2")
    n = len(out["tokens"])
    assert n == 6 and len(out["weights"]) == n and all(len(r) == n for r in out["weights"])
    for i, row in enumerate(out["weights"]):
        assert abs(sum(row) - 1) < 1e-4 and all(w == 0 for w in row[i + 1:])


@pytest.mark.parametrize("args", [
    ["tokens", ""],
    ["next", "   "],
    ["tokens", "a" * 100_000],
    ["tokens", "bad\x01control"],
    ["next", "esc \x1b[2J"],
    ["tokens", "hi", "--model", "gpt2"],
    ["tokens", "hi", "--model", "../../etc/passwd"],
    ["next", "hi", "--temperature", "-1"],
    ["next", "hi", "--temperature", "abc"],
    ["next", "hi", "--top-p", "1.5"],
    ["next", "hi", "--top-k", "-3"],
    ["generate", "hi", "--max-new-tokens", "0"],
    ["analogy", "king", "man", "qwertyuiopzz"],
    ["attention", "hi", "--layer", "99", "--head", "0"],
    ["attention", "hi"],
    ["frobnicate"],
])
def test_bad_input_one_line_nonzero(args):
    proc = cli(*args)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and "Traceback" not in proc.stderr
    assert proc.stdout == ""
