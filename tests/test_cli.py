"""`python -m llm_core`: JSON shapes, and bad input → one line, non-zero exit.
Run in this process (harness.cli); the last test runs a real one."""
from __future__ import annotations

import json

import pytest

from harness.cli import run_cli, run_cli_process

pytestmark = pytest.mark.model


def cli(*args, stdin: str | None = None):
    return run_cli(list(args), stdin.encode("utf-8") if stdin is not None else None)


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


def test_next_runners_up_at_t0_are_in_logit_order():
    """At T = 0 the list after ' Paris' is the model's next choices by logit, not
    special tokens tied at probability 0."""
    out = ok_json("next", "The capital of France is", "--temperature", "0", "--n", "6")
    cands = out["candidates"]
    assert [c["token"] for c in cands[:3]] == [" Paris", " the", " London"]
    assert [c["logit"] for c in cands] == sorted((c["logit"] for c in cands), reverse=True)
    assert [c["prob"] for c in cands] == [1.0, 0, 0, 0, 0, 0]


def test_same_seed_same_text_in_the_cli_the_pages_and_the_lab(decoder):
    """One token picker and one decode loop: chat 'What is the capital of France?',
    T = 1, seed 11 gives the same tokens in the CLI, on the generate page and in
    the hallucination lab."""
    from llm_core import generate as gen
    from llm_core import next_token as nt
    from llm_core.hallucination import ask
    question = "What is the capital of France?"
    out = ok_json("generate", question, "--chat", "--temperature", "1", "--seed", "11",
                  "--max-new-tokens", "16")
    cli_ids = [s["id"] for s in out["steps"]]
    page = [s.token_id for s in gen.generate(decoder, nt.prompt_ids(decoder, question, chat=True),
                                             max_new_tokens=16, temperature=1.0, seed=11)]
    lab = ask(decoder, question, temperature=1.0, seed=11, max_new_tokens=16)
    lab_ids = [i for piece in lab.pieces for i in piece.token_ids]
    assert cli_ids == page == lab_ids
    # One answer through the side-by-side path is the same answer too. (Several
    # answers run as one batch: a batched float32 matrix product rounds the last
    # bits differently, so a sampled answer may part from its single run later on;
    # the generate page says so.)
    alone = gen.generate_many(decoder, nt.prompt_ids(decoder, question, chat=True), [11],
                              max_new_tokens=16, temperature=1.0)
    assert [row[0].token_id for row in alone if row[0] is not None] == page


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
    mul = ok_json("analogy", "king", "man", "woman", "--rule", "3cosmul", "--n", "3")
    assert mul["rule"] == "3cosmul" and mul["results"][0]["word"] == "queen"
    assert out["rule"] == "3cosadd"


def test_attention():
    out = ok_json("attention", "The cat sat on the mat", "--layer", "3", "--head", "2")
    n = len(out["tokens"])
    assert n == 6 and len(out["weights"]) == n and all(len(r) == n for r in out["weights"])
    for i, row in enumerate(out["weights"]):
        assert abs(sum(row) - 1) < 1e-4 and all(w == 0 for w in row[i + 1:])


def test_next_refuses_a_text_past_the_limit_instead_of_cutting_it():
    proc = cli("next", "word " * 5000)          # 5,001 tokens: "word", then " word" × 4,999 and " "
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == "error: The prompt has 5,001 tokens; at most 4,096 are taken."


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


def test_the_module_runs_as_a_program():
    """`python -m llm_core` itself: JSON on stdout and exit 0; one line and exit 1."""
    ok = run_cli_process(["tokens", "The cat", "--json"])
    assert ok.returncode == 0 and json.loads(ok.stdout)["round_trip"] is True
    bad = run_cli_process(["next", "hi", "--temperature", "-1"])
    assert bad.returncode == 1 and bad.stdout == b""
    assert bad.stderr.decode().count("\n") == 1 and bad.stderr.startswith(b"error:")
