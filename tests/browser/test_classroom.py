"""The classroom in a real browser: a teacher and three students (separate
browser contexts, as separate devices) go from question to guesses to reveal
with the right counts; a second room never sees the first one's guesses; a link
restores the page's state; the language switch follows into the URL; the
lesson path moves with Next."""
from __future__ import annotations

import re
import time

import pytest

from harness.browser import (
    MAIN,
    VIEWPORT,
    assert_no_exception,
    choose_option,
    follow_link,
    open_page,
    press,
    wait_idle,
)

pytestmark = pytest.mark.browser
SIDEBAR = '[data-testid="stSidebar"]'


def _open_room(page) -> str:
    page.get_by_text("Class room", exact=True).first.click()
    press(page, page.get_by_role("button", name="Open a class room"))
    code = page.wait_for_selector(f"{SIDEBAR} .xray-room-code").inner_text()
    return re.search(r"[A-Z2-9]{6}", code).group(0)


def _ask_next_token(page, prompt: str) -> None:
    follow_link(page, "next_token")                     # same session: the room stays
    box = page.wait_for_selector(f'{MAIN} [data-testid="stTextArea"] textarea')
    box.fill(prompt)
    box.press("Control+Enter")              # no run when the box held this text already
    wait_idle(page)
    press(page, page.get_by_text("Guess first (hide the answer)"))


def _student(browser, server, code: str, name: str):
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(60_000)
    tab = context.new_page()
    open_page(tab, server.url, "classroom", f"room={code}")
    tab.get_by_label("Nickname").fill(name)
    press(tab, tab.get_by_role("button", name="Join"))
    return context, tab


def _guess(tab, text: str | None) -> str:
    """Choose the option that reads `text`, or the first one (a token question
    offers the model's candidates, not a box to type in). Returns what was chosen."""
    tab.wait_for_selector(f'{MAIN} :text("Question for the class")', timeout=30_000)
    chosen = choose_option(tab, text)
    tab.get_by_role("button", name="Send my guess").click()
    tab.wait_for_selector(f'{MAIN} :text("waiting for the teacher to reveal")', timeout=30_000)
    return chosen


def _answered(page, expected: str, timeout: float = 20) -> str:
    """The live count, once it reads `expected` (it refreshes every 2 s) or at the timeout."""
    deadline = time.time() + timeout
    while True:
        metric = page.wait_for_selector(f'{MAIN} [data-testid="stMetricValue"]')
        value = metric.inner_text().strip()
        if value == expected or time.time() > deadline:
            return value
        time.sleep(0.5)


def test_a_teacher_and_three_students_from_question_to_reveal(page, browser, server):
    open_page(page, server.url, "")
    code = _open_room(page)
    _ask_next_token(page, "The capital of France is")
    assert not page.query_selector(f'{MAIN} :text("The model\'s answer")')   # hidden
    students = [_student(browser, server, code, n) for n in ("ana", "bo", "cy")]
    # a second class in another room, at the same time
    other = browser.new_context(viewport=VIEWPORT, locale="en-US")
    other_teacher = other.new_page()
    open_page(other_teacher, server.url, "")
    other_code = _open_room(other_teacher)
    assert other_code != code
    _ask_next_token(other_teacher, "The cat sat on the")
    intruder_ctx, intruder = _student(browser, server, other_code, "dee")
    try:
        for (_, tab), guess in zip(students, ("Paris", "Paris", "London")):
            _guess(tab, guess)
        elsewhere = _guess(intruder, None).casefold()      # whatever the other room offered first
        assert _answered(page, "3 / 3") == "3 / 3"
        assert _answered(other_teacher, "1 / 1") == "1 / 1"
        press(page, page.get_by_role("button", name="Reveal the answer"))
        assert_no_exception(page)
        answer = page.wait_for_selector(f'{MAIN} :text("The model\'s answer")').inner_text()
        assert "Paris" in answer
        for (_, tab), verdict in zip(students, ("the same as the model", "the same as the model",
                                                "the model chose otherwise")):
            tab.wait_for_selector(f'{MAIN} :text("{verdict}")', timeout=30_000)
            histogram = tab.wait_for_selector(f'{MAIN} [data-testid="stPlotlyChart"]')
            text = histogram.inner_text()
            assert "paris" in text and "london" in text
            assert elsewhere in ("paris", "london") or elsewhere not in text
        # the other room has not been revealed and never saw these guesses
        assert intruder.query_selector(f'{MAIN} :text("waiting for the teacher to reveal")')
        assert not intruder.query_selector(f'{MAIN} :text("paris")')
    finally:
        for context, _ in students:
            context.close()
        intruder_ctx.close()
        other.close()


def test_a_link_restores_the_state_and_the_url_follows_the_language(page, server):
    open_page(page, server.url, "next_token",
              "lang=zh&next_token.prompt=Hello%20world&next_token.temperature=0.3&layer=999")
    assert page.wait_for_selector(f'{MAIN} textarea').input_value() == "Hello world"
    assert "0.30" in page.query_selector(f'{MAIN} [data-testid="stSlider"]').inner_text()
    assert page.query_selector(f'{MAIN} h1').inner_text().startswith("下一个")
    toast = page.wait_for_selector('[data-testid="stToast"]', timeout=10_000).inner_text()
    assert "layer" in toast and "next_token" not in toast
    # another page and back: the text and T are as they were
    follow_link(page, "tokens")
    follow_link(page, "next_token")
    assert page.wait_for_selector(f'{MAIN} textarea').input_value() == "Hello world"
    assert "0.30" in page.query_selector(f'{MAIN} [data-testid="stSlider"]').inner_text()
    page.get_by_text("English", exact=True).click()
    page.wait_for_function("() => !location.search.includes('lang=')", timeout=60_000)
    wait_idle(page)
    assert "next_token.temperature=0.3" in page.url


def test_the_lesson_path_moves_with_next(page, server):
    open_page(page, server.url, "")
    page.get_by_text("Lesson path", exact=True).click()
    press(page, page.get_by_role("button", name="Start the lesson path"))
    assert page.query_selector(f'{MAIN} :text("step 1 of")')
    for step, where in ((2, "/vectors"), (3, "/vectors"), (4, "/anatomy")):
        press(page, page.get_by_role("button", name="Next →"))
        assert_no_exception(page)
        assert page.query_selector(f'{MAIN} :text("step {step} of")'), step
        assert where in page.url and f"step={step}" in page.url
