"""What a user types never becomes markup in the browser: a markdown image, a
link, raw HTML or LaTeX in the text box or as a hub model id is shown as text,
and the page asks for nothing but its own server."""
from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness.browser import MAIN, fingerprint, open_page, wait_changed, wait_idle

pytestmark = pytest.mark.browser

OUTSIDE = "198.51.100.7"      # TEST-NET-2: never a real host
PAYLOAD = (f"![x](http://{OUTSIDE}/md.png) [link](http://{OUTSIDE}/a) "
           f"<img src=http://{OUTSIDE}/raw.png> :red[red] **bold** $x^2$\n\n"
           f"<a href=http://{OUTSIDE}/b>after a blank line</a>")


def _requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    return seen


def _assert_local(urls: list[str]) -> None:
    hosts = {urlparse(u).hostname for u in urls if urlparse(u).scheme in ("http", "https", "ws")}
    assert hosts <= {"127.0.0.1", "localhost"}, hosts


def _assert_inert(page) -> None:
    outside = page.evaluate(f"""() => [...document.querySelectorAll('img, a, iframe, image')]
        .map(e => e.getAttribute('src') || e.getAttribute('href') || '')
        .filter(s => s.includes('{OUTSIDE}'))""")
    assert not outside, outside


@pytest.mark.parametrize("path", ["", "tokens", "attention"])
def test_typed_markup_stays_text(page, server, path):
    urls = _requests(page)
    open_page(page, server.url, path)
    area = page.query_selector(f'{MAIN} [data-testid="stTextArea"] textarea')
    before = fingerprint(page)
    area.fill(PAYLOAD)
    area.press("Control+Enter")
    wait_changed(page, before)
    _assert_inert(page)
    assert not page.query_selector(f'{MAIN} [data-testid="stException"]')
    _assert_local(urls)


def test_hub_id_in_the_sidebar_stays_text(page, server):
    urls = _requests(page)
    open_page(page, server.url, "tokens")
    # On a server's first session the sidebar can re-render once more right after
    # the page settles and close a list just opened: open it again if so.
    for attempt in range(3):
        box = page.query_selector('[data-testid="stSidebar"] [data-testid="stSelectbox"] input')
        box.focus()
        page.keyboard.press("ArrowDown")
        try:
            page.wait_for_selector('[role="option"]', timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            wait_idle(page)
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.wait_for_selector('[data-testid="stSidebar"] [data-testid="stTextInput"] input',
                           timeout=30_000)
    wait_idle(page)
    hub = page.query_selector('[data-testid="stSidebar"] [data-testid="stTextInput"] input')
    before = fingerprint(page)
    hub.fill(f"![x](http://{OUTSIDE}/hub.png)")
    hub.press("Enter")
    wait_changed(page, before)
    alerts = [a.inner_text() for a in page.query_selector_all('[data-testid="stAlert"]')]
    # The message names the id as the user typed it: text, not an image (an
    # invisible word joiner keeps the address from becoming a link).
    assert any(f"![x](http://{OUTSIDE}/hub.png)" in a.replace("\u2060", "") for a in alerts), alerts
    _assert_inert(page)
    _assert_local(urls)
