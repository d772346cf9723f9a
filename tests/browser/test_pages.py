"""Every page in a real browser: open it, use its main controls, see the view
(and its figure) update, no exception element, a 1280×720 screenshot under
test-artifacts/screenshots/."""
from __future__ import annotations

import re
import tomllib
from urllib.parse import parse_qs, urlsplit

import pytest

from harness import ROOT
from harness.browser import (VIEWPORT, act, assert_no_dialog, assert_no_exception, finish_opening,
                              open_page, screenshot, start_opening, wait_idle)
from harness.server import Server, app_pages, page_url_path
from ui.i18n import LANGS

pytestmark = pytest.mark.browser

# Per page, the controls to use in order: (action, argument, must the view change?).
# Every planned control must be on the page; at least one step must change the
# view, and when the page shows a figure, at least one must change a figure.
# Controls are found by Streamlit's test ids, not by labels.
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
    # A code and no nickname (Enter submits the form): the page answers with a message.
    "classroom": [("text", "ZZZZZZ", True)],
}

# The shortest job of a page that runs one (a link sets it): the test is the page,
# not the job (the jobs have their own tests).
QUERY = {"finetune": "finetune.steps=2", "distillation": "distillation.steps=10"}
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
    open_page(page, server.url, path, query=QUERY.get(url, ""))
    _no_error_box(page)
    changes, used = [], []
    plan = PLANS[url]
    for n, (action, arg, must_change) in enumerate(plan):
        # Enough once a figure has changed, unless a later step is required.
        if any(_figures_changed(c) for c in changes) and not any(m for _a, _g, m in plan[n:]):
            break
        # a job (training, quantizing) on a machine busy with other work can take minutes:
        # the wait is a hang guard, not a speed check
        found, change = act(page, action, arg, timeout=600 if action == "button" else 150)
        assert found, f"{url}: no control for '{action}' on the page"
        assert_no_exception(page)
        _no_error_box(page)
        used.append(action)
        if must_change:
            assert change is not None, f"{url}: '{action}' did not change the view"
        if change is not None:
            changes.append(change)
    screenshot(page, url)
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


# The first sessions of a freshly started server: Streamlit serves them from its
# automatic list of pages/ (a page file alone, or an old name's file of its own)
# until app.py has run. Four links open at the same moment on one fresh server,
# as a class's first clicks would.
FIRST_LINKS = {"next_token-zh": ("next_token", "lang=zh"),
               "attention_step-en": ("attention_step", "lang=en"),
               "next-token": ("next-token", ""), "pipeline": ("pipeline", "lang=zh")}


@pytest.fixture(scope="module")
def first_tabs(browser):
    fresh = Server(log_name="streamlit-fresh.log").start()
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    try:
        tabs = {}
        for key, (path, query) in FIRST_LINKS.items():
            tabs[key] = context.new_page()
            start_opening(tabs[key], fresh.url, path, query)
        yield tabs
    finally:
        context.close()
        fresh.stop()


@pytest.mark.parametrize("name,lang", [("next_token", "zh"), ("attention_step", "en")])
def test_deep_link_first_on_a_fresh_server(first_tabs, name, lang):
    """A deep link among the first sessions: the page's guard (ui/pages.inside_app)
    must hand it to app.py, so it shows with the shared sidebar, its own title in
    the link's language and no "Page not found"."""
    tab = first_tabs[f"{name}-{lang}"]
    finish_opening(tab)
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


OLD_LINKS = [("class", "classroom", "room=QZ7K&lang=zh"), ("next-token", "next_token", ""),
             ("pipeline", "pipeline", "lang=zh"), ("logit-lens", "logit_lens", "lang=zh")]


def _lands_on_its_page(tab, name: str, query: str) -> None:
    """The forwarded page, in the link's language, its parameters kept, nothing
    over it, and it answers a click: the sidebar's other language retitles it."""
    want_path = "/" if name == "pipeline" else f"/{name}"
    tab.wait_for_function(f"() => location.pathname === '{want_path}'", timeout=60_000)
    wait_idle(tab)
    url = urlsplit(tab.url)
    assert parse_qs(url.query) == parse_qs(query), tab.url
    lang = parse_qs(query).get("lang", ["en"])[0]
    assert _nav(lang)[name].lower() in tab.inner_text('[data-testid="stMain"] h1').lower()
    assert_no_dialog(tab)
    other = "en" if lang == "zh" else "zh"
    tab.get_by_text(LANGS[other], exact=True).click()
    tab.wait_for_function(
        f"() => (document.querySelector('[data-testid=\"stMain\"] h1') || {{}}).innerText"
        f"?.toLowerCase().includes({_nav(other)[name].lower()!r})", timeout=60_000)


@pytest.mark.parametrize("old,name,query", OLD_LINKS, ids=[o for o, _n, _q in OLD_LINKS])
def test_an_old_link_opens_its_page(page, server, old, name, query):
    """A link printed before the pages took their file names (a handout, a
    student's room link), and the front page by its own file name, open their
    page with its parameters and nothing over it."""
    open_page(page, server.url, old, query=query)
    _lands_on_its_page(page, name, query)


@pytest.mark.parametrize("old,name,query", [OLD_LINKS[1], OLD_LINKS[2]], ids=["next-token", "pipeline"])
def test_an_old_link_first_on_a_fresh_server(first_tabs, old, name, query):
    """An old link among the first sessions: its name is a file of its own in
    Streamlit's list, which hands the run to app.py."""
    tab = first_tabs[old]
    finish_opening(tab)
    _lands_on_its_page(tab, name, query)


def test_a_link_fills_a_box_before_the_example_does(page, server):
    """A teacher's link sets the question; the page's default example must not
    overwrite it on the first visit (the example fills only boxes no link set)."""
    open_page(page, server.url, "hallucination", query="hallucination.question=Who+wrote+Hamlet%3F")
    box = page.query_selector('[data-testid="stMain"] [data-testid="stTextArea"] textarea')
    assert box.input_value() == "Who wrote Hamlet?"
