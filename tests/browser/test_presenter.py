"""Presenter mode on a projector (1920×1080): numbers bigger than their labels,
never smaller; the room code on one line; the question and the first figure
above the fold; heatmap ticks of 16 px or more. Measured in the browser, from
the computed styles of what is drawn."""
from __future__ import annotations

import re

import pytest

from harness.browser import MAIN, open_page, press, screenshot

pytestmark = pytest.mark.browser
PROJECTOR = {"width": 1920, "height": 1080}
SIDEBAR = '[data-testid="stSidebar"]'

# font size (px) of the innermost element holding text under each match
_SIZES = """(sel) => [...document.querySelectorAll(sel)].map(el => {
    let inner = el; while (inner.firstElementChild) inner = inner.firstElementChild;
    return parseFloat(getComputedStyle(inner).fontSize); })"""


def _sizes(page, selector: str) -> list[float]:
    return page.evaluate(_SIZES, f"{MAIN} {selector}")


def _top(page, selector: str) -> float:
    return page.evaluate("(sel) => document.querySelector(sel).getBoundingClientRect().top",
                         f"{MAIN} {selector}")


@pytest.fixture
def projector(browser):
    context = browser.new_context(viewport=PROJECTOR, locale="zh-CN")
    context.set_default_timeout(60_000)
    yield context.new_page()
    context.close()


def test_numbers_and_ticks_grow_and_the_figure_is_above_the_fold(projector, server):
    page = projector
    open_page(page, server.url, "next_token", "present=1&lang=zh")
    values, labels = _sizes(page, '[data-testid="stMetricValue"]'), _sizes(page, '[data-testid="stMetricLabel"]')
    assert values and labels and min(values) >= 1.8 * max(labels), (values, labels)
    assert _top(page, '[data-testid="stPlotlyChart"]') < PROJECTOR["height"] - 200   # its bars show
    screenshot(page, "presenter-next_token-zh-1920")
    open_page(page, server.url, "attention", "present=1&lang=zh")
    ticks = page.evaluate(_SIZES, f"{MAIN} [data-testid='stPlotlyChart'] :is(.xtick, .ytick) text")
    assert ticks and min(ticks) >= 16, sorted(set(ticks))


def test_the_room_code_and_the_live_count_read_from_the_back(projector, server):
    page = projector
    open_page(page, server.url, "next_token", "lang=en")
    page.get_by_text("Class room", exact=True).first.click()
    press(page, page.get_by_role("button", name="Open a class room"))
    press(page, page.get_by_text("Presenter mode").first)          # the sidebar's switch
    press(page, page.get_by_text("Guess first (hide the answer)"))
    code = page.wait_for_selector(f"{MAIN} .xray-room-code")
    assert re.fullmatch(r"[A-Z2-9]{6}", code.inner_text().replace(" ", "").strip())
    box = code.bounding_box()
    size = page.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)", code)
    assert size >= 64 and box["height"] < 1.6 * size                          # one line, large
    count = page.wait_for_selector(f'{MAIN} [data-testid="stMetricValue"]')
    assert re.fullmatch(r"\d+ / \d+", count.inner_text().strip())
    values, labels = _sizes(page, '[data-testid="stMetricValue"]'), _sizes(page, '[data-testid="stMetricLabel"]')
    assert min(values) >= 1.8 * max(labels), (values, labels)
    question = page.wait_for_selector(f'{MAIN} :text("Question for the class")')
    assert question.bounding_box()["y"] < PROJECTOR["height"] - 100           # above the fold
    screenshot(page, "presenter-room-en-1920")
