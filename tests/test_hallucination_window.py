"""Hallucination lab and context window: agreement metrics, grounding and the
window cut against the real model, and both pages via AppTest."""
from __future__ import annotations

import html

import pytest

from harness.apptest import app_test, assert_clean, shown, rendered
from llm_core import hallucination as hal
from llm_core import context_window as win
from llm_core.model.errors import InputError

HOSTILE = "<img src=x onerror=alert(1)>"


# --- agreement metrics on hand-made answers -------------------------------------------

def test_identical_answers_agree_fully():
    texts = ["The capital of Veltravia is Nova Haven."] * 3
    a = hal.agreement(texts, "What is the capital of the Republic of Veltravia?")
    assert a.word_overlap == pytest.approx(1.0)
    assert a.top_claim == "Nova Haven"
    assert a.top_share == pytest.approx(1.0)
    assert a.distinct == 1 and a.n == 3


def test_disjoint_answers_do_not_agree():
    a = hal.agreement(["Alpha beta gamma", "delta epsilon", "zeta eta theta 42"])
    assert a.word_overlap == pytest.approx(0.0)
    assert a.distinct == 3
    assert a.top_share == 0.0 and a.top_claim is None      # nothing shared: no share beside it
    two = hal.agreement(["It was Nova Haven.", "Maybe Nova Haven, in 1990.", "Morwick"])
    assert two.top_claim == "Nova Haven" and two.top_share == pytest.approx(2 / 3)


def test_jaccard_and_claims():
    assert hal.jaccard("a b c", "a b c") == 1.0
    assert hal.jaccard("a b", "c d") == 0.0
    assert hal.jaccard("a b c d", "a b") == pytest.approx(0.5)
    assert hal.jaccard("巴黎", "巴黎") == 1.0           # Chinese characters count as words
    found = hal.claims("I've heard it was John Taylor in 1959.", "Who walked on Mars?")
    assert found == {"John Taylor", "1959"}
    # Names already in the question are not claims of the answer.
    assert hal.claims("Veltravia is nice.", "What about Veltravia?") == set()
    # … nor its possessive, nor the word that opens a sentence or a question.
    assert hal.claims("Where is Veltravia's capital? Morwick.", "What about Veltravia?") == {"Morwick"}
    assert hal.claims("What a question. Maybe Nova Haven.") == {"Nova Haven"}


def test_the_samples_table_shows_each_mean_with_two_decimals():
    from types import SimpleNamespace

    from ui.fig_hallucination import samples_frame
    answers = [SimpleNamespace(seed=s, text=f"answer {s}", mean_confidence=m)
               for s, m in ((11, 0.43), (22, 0.6061), (33, 0.1))]
    frame = samples_frame(answers, [{"Morwick"}, set(), {"Lena", "Bene"}],
                          {"col_seed": "seed", "col_answer": "a", "col_claims": "c", "col_mean": "m"})
    assert frame["m"].tolist() == ["0.43", "0.61", "0.10"]
    assert frame["c"].tolist() == ["Morwick", "", "Bene, Lena"] and frame["seed"].tolist() == [11, 22, 33]


def test_grounded_prompt_format():
    assert hal.grounded_prompt("Q?", "F.") == "Context: F.\nQuestion: Q?"
    assert hal.grounded_prompt("首都？", "事实。").startswith("背景：事实。")


def test_pieces_join_split_characters(decoder):
    ids = decoder.encode("法国")[1].tolist()
    assert len(ids) > 2                                 # bytes of a character are split
    pieces = hal.group_pieces(decoder, ids, [0.5] * len(ids), [1.0] * len(ids),
                              [()] * len(ids))
    assert "".join(p.text for p in pieces) == "法国"
    assert all("\ufffd" not in p.text for p in pieces)
    joined = [p for p in pieces if len(p.token_ids) > 1]
    assert joined and joined[0].prob == pytest.approx(0.5 ** len(joined[0].token_ids))


def test_bad_questions_are_input_errors(decoder):
    with pytest.raises(InputError) as err:
        hal.question_ids(decoder, "   ")
    assert err.value.code == "empty"
    with pytest.raises(InputError) as err:
        hal.question_ids(decoder, "word " * 600)
    assert err.value.code == "question_too_long"


# --- the real model ---------------------------------------------------------------

def test_france_answers_paris_greedily(decoder):
    france = hal.PRESETS_BY_KEY["france"]
    answer = hal.ask(decoder, france.question, temperature=0, max_new_tokens=10)
    assert "Paris" in answer.text
    assert all(0 < p.prob <= 1 and p.entropy >= 0 for p in answer.pieces)
    # The softmax at every step hands out all the probability: chosen + runner-ups + rest = 1.
    assert all(p.total == pytest.approx(1, abs=1e-4) and p.rest >= -1e-6 for p in answer.pieces)
    paris = next(p for p in answer.pieces if "Paris" in p.text)
    assert paris.prob > 0.5                              # a known fact: confident


def test_grounding_puts_the_fact_in_the_answer(decoder):
    preset = hal.PRESETS_BY_KEY["veltravia"]
    plain = hal.ask(decoder, preset.question, temperature=0, max_new_tokens=16)
    grounded = hal.ask(decoder, hal.grounded_prompt(preset.question, preset.fact),
                       temperature=0, max_new_tokens=16)
    assert "Morwick" not in plain.text and plain.text        # it invents something else
    assert "Morwick" in grounded.text
    assert grounded.min_confidence > plain.min_confidence


# --- the window ----------------------------------------------------------------

def test_window_math():
    w = win.Window(n_tokens=100, size=30, fact=(0, 10))
    assert (w.start, w.kept, w.fact_inside, w.fact_tokens_inside) == (70, 30, False, 0)
    assert not w.inside(69) and w.inside(70)
    assert win.Window(100, 100, (0, 10)).fact_inside
    assert win.Window(100, 500, (0, 10)).start == 0
    partly = win.Window(100, 30, (65, 75))
    assert not partly.fact_inside and partly.fact_tokens_inside == 5
    import torch
    assert win.keep_last(torch.arange(10), 3).tolist() == [7, 8, 9]
    assert win.keep_last(torch.arange(10), 30).tolist() == list(range(10))


def test_demo_text_and_bad_settings(decoder):
    demo = win.build_text("7492", 2)
    assert demo.text.startswith("The secret code is 7492.") and demo.answer == " 7492"
    tokens, _ids, _ = decoder.encode(demo.text)
    first, end = win.token_span(tokens, *demo.fact_chars)
    assert first == 0 and "".join(t.text for t in tokens[first:end]).strip().endswith("7492.")
    for code in ("", "12a", "123456789", HOSTILE):
        with pytest.raises(InputError):
            win.build_text(code, 2)
    with pytest.raises(InputError):
        win.build_text("1", win.MAX_FILLER + 1)
    with pytest.raises(InputError):
        win.check_window(4, 8192)


def test_fact_outside_the_window_changes_the_answer(decoder):
    n_tokens = len(decoder.encode(win.build_text("7492", 3).text)[1])
    covered = win.run_demo(decoder, "7492", 3, n_tokens + 8)
    cut = win.run_demo(decoder, "7492", 3, n_tokens - 40)
    assert covered.run.window.fact_inside and not cut.run.window.fact_inside
    assert "7492" in covered.run.answer
    assert "7492" not in cut.run.answer
    assert covered.run.answer_prob > 100 * cut.run.answer_prob
    assert covered.expected_tokens[-4:] == ("7", "4", "9", "2")


# --- the pages ------------------------------------------------------------------

SMALL = {"hallucination.max_tokens": 8, "hallucination.n_samples": 2}


def _warned(at, key: str, lang: str) -> bool:
    from ui.i18n import table
    expected = table(lang)[key].split("{")[0]
    return any(expected in shown(w.value) for w in at.warning)


def _markdown(at) -> str:
    """Markdown and st.html bodies (answers are HTML chips)."""
    return "\n".join(rendered(at))


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hallucination_page(lang, decoder, monkeypatch):
    from llm_core.model.sampling import cache_bytes
    from ui import jobs

    admitted, slot = [], jobs.LANES["short"].slot

    def spy(waiting, cost=0):                 # what the short lane admits the lab by
        admitted.append(cost)
        return slot(waiting, cost)

    monkeypatch.setattr(jobs.LANES["short"], "slot", spy)
    at = app_test("pages/hallucination.py", lang, state=SMALL, timeout=900)
    assert_clean(at)
    assert at.text_area(key="hallucination.question").value == hal.PRESETS_BY_KEY[
        "veltravia"].question
    assert not at.get("plotly_chart")                          # nothing generated before asking
    # Empty question: a message, no answer.
    at.text_area(key="hallucination.question").input("  ").run()
    at.button(key="hallucination.ask").click().run()
    assert_clean(at)
    assert _warned(at, "errors.empty", lang) and not at.get("plotly_chart")
    # A question as long as the context: refused with a clear message.
    at.text_area(key="hallucination.question").input("word " * 3900).run()
    at.button(key="hallucination.ask").click().run()
    assert_clean(at)
    assert _warned(at, "hallucination.err_question_too_long", lang) and not at.get("plotly_chart")
    # Markup typed as a question is shown as text.
    at.text_area(key="hallucination.question").input(HOSTILE).run()
    at.text_input(key="hallucination.fact").input("").run()
    at.button(key="hallucination.ask").click().run()
    assert_clean(at)
    text = _markdown(at)
    assert "<img src=x" not in text and "onerror=alert(1)>" not in text
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 2   # the two samples
    # A preset with a fact: the grounded answer and its confidence chart.
    france = hal.PRESETS_BY_KEY["france"]
    at.selectbox(key="hallucination.preset").set_value("france").run()
    assert at.text_area(key="hallucination.question").value == france.question
    assert at.text_input(key="hallucination.fact").value == france.fact
    at.button(key="hallucination.ask").click().run()
    assert_clean(at)
    assert "Paris" in _markdown(at)
    # its largest batch's key/value cache: the greedy answer and two samples of the
    # question, or the grounded answer, each of 8 tokens after its prompt
    assert admitted[-1] == max(
        cache_bytes(decoder, 3, hal.question_ids(decoder, france.question).numel() + 8),
        cache_bytes(decoder, 1, hal.question_ids(
            decoder, hal.grounded_prompt(france.question, france.fact)).numel() + 8))
    assert at.get("plotly_chart") and any("Context: The capital of France is Paris." in c.value
                                   for c in at.code)
    # Other settings ask for other answers; back at these, the answers asked for are still there.
    at.slider(key="hallucination.max_tokens").set_value(16).run()
    assert not at.get("plotly_chart") and "Paris" not in _markdown(at)
    at.slider(key="hallucination.max_tokens").set_value(8).run()
    assert at.get("plotly_chart") and "Paris" in _markdown(at)
    assert len(at.session_state["hallucination.result"]) == 2    # the markup question's, France's
    # A widget that does not change the question does not regenerate or lose it.
    at.session_state["shared.lang"] = "zh" if lang == "en" else "en"
    at.run()
    assert_clean(at)
    assert "Paris" in _markdown(at)


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_context_window_page(lang):
    at = app_test("pages/context_window.py", lang, timeout=900)
    assert_clean(at)
    assert "8,192" in at.info[0].value
    assert at.get("plotly_chart")
    assert any("7492" in c.value for c in at.code)      # the whole text: the code comes back
    assert at.success and at.warning                     # … and through the default window not
    # Empty and hostile codes: a message, no crash, nothing rendered as markup.
    for bad in ("", HOSTILE):
        at.text_input(key="context_window.code").input(bad).run()
        assert_clean(at)
        assert _warned(at, "context_window.err_bad_code", lang) and not at.get("plotly_chart")
        assert "<img src=x" not in _markdown(at)
    # The longest text and the largest window: the whole text is in the window.
    at.text_input(key="context_window.code").input("7492").run()
    at.slider(key="context_window.filler").set_value(win.MAX_FILLER).run()
    at.slider(key="context_window.window").set_value(1024).run()
    assert_clean(at)
    assert at.get("plotly_chart") and len(at.success) == 2
    assert html.escape("<img") not in _markdown(at)


def test_the_lab_runs_each_prompt_once_in_one_batch_and_counts_its_steps():
    """One batch per prompt; each batch knows where its steps stand in the whole
    job (steps before it, all steps), so the time left is the job's."""
    jobs = hal.lab_jobs("Q?", "A fact.", 0.8, 3)
    batches = []

    def answer_group(prompt, settings, steps):
        batches.append((prompt, settings, steps))
        return [f"{prompt}|{T}|{seed}" for T, seed in settings]

    result = hal.run_lab(jobs, 40, answer_group)
    assert [p for p, _, _ in batches] == ["Q?", hal.grounded_prompt("Q?", "A fact.")]
    assert batches[0][1] == ((0.0, 0), (0.8, 11), (0.8, 22), (0.8, 33))
    assert [steps for _, _, steps in batches] == [(0, 80), (40, 80)]
    assert result.greedy == "Q?|0.0|0" and result.samples == ("Q?|0.8|11", "Q?|0.8|22", "Q?|0.8|33")
    assert result.grounded.endswith("|0.0|0") and result.grounded.startswith("Context")


@pytest.mark.parametrize("mean,expected", [(0.0, 0), (0.29, 0), (0.3, 1), (0.59, 1), (0.6, 2), (1.0, 2)])
def test_confidence_bins(mean, expected):
    class Answer:
        mean_confidence = mean
    assert hal.confidence_bin(Answer()) == expected
