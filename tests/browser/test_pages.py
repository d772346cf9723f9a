"""Every page in a real browser: open it, use its main controls, see the view
(and its figure) update, no exception element, a 1280×720 screenshot under
test-artifacts/screenshots/."""
from __future__ import annotations

import re
import tomllib
from urllib.parse import parse_qs, urlsplit

import pytest

from harness import ROOT
from harness.browser import VIEWPORT, act, assert_no_exception, open_page, screenshot, wait_idle
from harness.server import Server, app_pages, page_url_path

pytestmark = pytest.mark.browser

# Per page, the controls to use in order: (action, argument, must the view change?).
# A step whose control is not on the page is passed over; at least one step must
# change the view, and when the page shows a figure, at least one must change a
# figure. Controls are found by Streamlit's test ids, not by labels.
TEXT = "The cat sat on the mat because it was tired."
PLANS: dict[str, list[tuple[str, object, bool]]] = {
    "pipeline": [("text", "Paris is the capital of", True), ("slider", 3, False)],
    "vectors": [("slider", 5, True), ("select", 1, False)],
    "tokens": [("text", "Tokenization splits 東京 and 🙂 into pieces.", True), ("select", 1, False)],
    "embeddings": [("text", "paris", False), ("select", 1, False), ("radio", None, False)],
    "positions": [("text", TEXT, False), ("slider", 5, False), ("select", 1, False)],
    "context": [("select", 1, False), ("slider", 2, False), ("radio", None, False)],
    "anatomy": [("select", 1, True), ("radio", None, False)],
    "attention": [("text", TEXT, True), ("slider", 3, False), ("select", 1, False)],
    "attention_step": [("text", TEXT, True), ("slider", 3, False)],
    "encoder_decoder": [("text", TEXT, True), ("slider", 2, False)],
    "block": [("text", TEXT, True), ("slider", 5, False)],
    "logit_lens": [("text", "The capital of France is", True), ("select", 1, False)],
    "next_token": [("text", "Once upon a time there was a", True), ("slider", 8, True)],
    # Short answers: the slider with the answer length first, then the button.
    "generate": [("slider_set", (3, 4), False), ("button", None, True)],
    "hallucination": [("slider_set", (1, 0), False), ("slider_set", (2, 0), False),
                      ("button", None, True)],
    "context_window": [("slider", 3, True), ("slider2", 2, False)],
    # The layer slider redraws one matrix's histogram; the button quantizes a copy.
    "quantization": [("slider2", 2, True), ("button", None, True)],
    "finetune": [("button", None, True)],
    # Few training steps (the third slider), then distil.
    "distillation": [("slider_set", (2, 3), False), ("button", None, True)],
}
DEFAULT_PLAN = [("text", TEXT, False), ("slider", 3, False), ("select", 1, False),
                ("radio", None, False), ("button", None, False)]

PAGES = app_pages()


def _figures_changed(change: dict) -> bool:
    before, after = change["before"], change["after"]
    return (before["plots"] != after["plots"] or before["images"] != after["images"]
            or before["html"] != after["html"])


def _has_figure(page) -> bool:
    return bool(page.query_selector(
        '[data-testid="stMain"] :is([data-testid="stPlotlyChart"], [data-testid="stImage"],'
        ' [data-testid="stVegaLiteChart"], [data-testid="stDataFrame"])'))


def _no_error_box(page) -> None:
    errors = [e.inner_text() for e in page.query_selector_all(
        '[data-testid="stMain"] [data-testid="stAlertContentError"]')]
    assert not errors, f"error box on the page: {errors}"


@pytest.mark.parametrize("section,name,icon", PAGES, ids=[p[1] for p in PAGES])
def test_page(page, server, section, name, icon):
    try:
        _exercise(page, server, name, page_url_path(name))
    except BaseException:
        screenshot(page, f"FAILED-{name}")
        raise


def _exercise(page, server, url, path):
    open_page(page, server.url, path)
    _no_error_box(page)
    changes, used = [], []
    plan = PLANS.get(url, DEFAULT_PLAN)
    for n, (action, arg, must_change) in enumerate(plan):
        # Enough once a figure has changed, unless a later step is required.
        if any(_figures_changed(c) for c in changes) and not any(m for _a, _g, m in plan[n:]):
            break
        found, change = act(page, action, arg, change_timeout=150 if must_change else 12)
        assert_no_exception(page)
        _no_error_box(page)
        if not found:
            continue
        used.append(action)
        if must_change:
            assert change is not None, f"{url}: '{action}' did not change the view"
        if change is not None:
            changes.append(change)
    screenshot(page, url)
    assert used, f"{url}: none of the planned controls is on the page"
    assert changes, f"{url}: no control changed the view (tried {used})"
    if _has_figure(page):
        assert any(_figures_changed(c) for c in changes), \
            f"{url}: the figure never changed (tried {used})"


def _nav_title(lang: str) -> str:
    with open(ROOT / "ui" / "locales" / lang / "nav.toml", "rb") as fh:
        return tomllib.load(fh)["pipeline"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_language_from_link(page, server, lang):
    open_page(page, server.url, "", query=f"lang={lang}")
    body = page.inner_text("body")
    assert _nav_title(lang) in body
    other = _nav_title("en" if lang == "zh" else "zh")
    assert other not in body
    has_chinese = re.search(r"[\u4e00-\u9fff]", page.inner_text('[data-testid="stSidebarNav"]'))
    assert bool(has_chinese) == (lang == "zh")
    if lang == "zh":
        screenshot(page, "home-zh")


def _nav(lang: str) -> dict:
    with open(ROOT / "ui" / "locales" / lang / "nav.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize("name,lang", [("next_token", "zh"), ("attention_step", "en")])
def test_deep_link_first_on_a_fresh_server(browser, name, lang):
    """The first session of a freshly started server opens a deep link: Streamlit
    serves that one from its automatic list of pages/ (the page file alone); the
    page's guard (ui/pages.inside_app) must hand it to app.py, so it shows with the
    shared sidebar, its own title in the link's language and no "Page not found"."""
    fresh = Server(log_name=f"streamlit-fresh-{name}.log").start()
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    try:
        tab = context.new_page()
        open_page(tab, fresh.url, name, query=f"lang={lang}")
        title = tab.inner_text('[data-testid="stMain"] h1')
        assert _nav(lang)[name] in title, title
        nav = tab.inner_text('[data-testid="stSidebarNav"]')
        for other in ("pipeline", "tokens", "distillation"):   # the app's translated list
            assert _nav(lang)[other] in nav, nav
        sidebar = tab.inner_text('[data-testid="stSidebar"]')
        assert _nav(lang)["section_inside"] in sidebar
        assert "Page not found" not in tab.inner_text("body")
        url = urlsplit(tab.url)
        assert url.path == f"/{name}", tab.url
        assert parse_qs(url.query).get("lang", ["en"]) == [lang], tab.url   # English is unmarked
        screenshot(tab, f"fresh-{name}-{lang}")
    finally:
        context.close()
        fresh.stop()


@pytest.mark.parametrize("old,name,query", [("class", "classroom", "room=QZ7K&lang=zh"),
                                            ("next-token", "next_token", "")])
def test_an_old_link_opens_its_page(page, server, old, name, query):
    """A link printed before the pages took their file names (a handout, a
    student's room link) opens the same page, its parameters kept."""
    open_page(page, server.url, old, query=query)
    page.wait_for_function(f"() => location.pathname === '/{name}'", timeout=60_000)
    wait_idle(page)                           # the forwarded page, settled
    url = urlsplit(page.url)
    assert url.path == f"/{name}", page.url
    assert parse_qs(url.query) == parse_qs(query), page.url
    lang = parse_qs(query).get("lang", ["en"])[0]
    assert _nav(lang)[name] in page.inner_text('[data-testid="stMain"] h1')
    assert "Page not found" not in page.inner_text("body")


def test_a_link_fills_a_box_before_the_example_does(page, server):
    """A teacher's link sets the question; the page's default example must not
    overwrite it on the first visit (the example fills only boxes no link set)."""
    open_page(page, server.url, "hallucination", query="hallucination.question=Who+wrote+Hamlet%3F")
    box = page.query_selector('[data-testid="stMain"] [data-testid="stTextArea"] textarea')
    assert box.input_value() == "Who wrote Hamlet?"
