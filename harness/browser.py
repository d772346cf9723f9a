"""Driving the real app in headless Chromium: open a page, wait until it is
connected and idle, act on its controls and notice when the view changes.
Widgets are found by Streamlit's test ids (stTextArea, stSlider …), never by
their labels, so wording and translations can change freely."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from harness import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 720}
SCREENSHOTS = ARTIFACTS / "screenshots"


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)


# --- waiting for the app ---------------------------------------------------------

# Idle: connected, the script not running, nothing stale or spinning, and every
# plotly chart drawn.
_IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stMain"] [data-stale="true"]')) return false;
  if (document.querySelector('[data-testid="stSpinner"]')) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  for (const c of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    if (!c.querySelector('.main-svg')) return false;
  }
  return true;
}"""

# A short digest of what the page shows: text, chart data, images, html blocks.
_FINGERPRINT_JS = """() => {
  const h = (s) => { let x = 5381; for (let i = 0; i < s.length; i++) x = ((x * 33) ^ s.charCodeAt(i)) >>> 0; return x.toString(16) + ':' + s.length; };
  const ser = (v) => { try { return JSON.stringify(v, (k, val) =>
      (ArrayBuffer.isView(val) ? Array.from(val) : val)); } catch (e) { return String(v); } };
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return null;
  const plots = [...main.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')].map(
    (g) => h(ser((g.data || []).map((t) => [t.x, t.y, t.z, t.text, t.values, t.labels, t.customdata])))
      + '|' + h(ser((g.layout || {}).annotations || [])));
  const images = [...main.querySelectorAll('img')].map((i) => h(i.src || ''));
  const html = [...main.querySelectorAll('[data-testid="stMarkdownContainer"], iframe')].map(
    (e) => h(e.innerHTML || e.srcdoc || ''));
  let text = main.innerText || '';
  for (const e of main.querySelectorAll('[data-testid="InputInstructions"]')) text = text.split(e.innerText).join('');
  return {text: h(text), plots: plots, images: images, html: h(html.join('|')),
          n: main.querySelectorAll('*').length};
}"""


# Counts the script runs the page has started (the app's script state turning
# to "running"), so an action knows at once whether it made the app run.
_COUNT_RUNS_JS = """(() => {
  if (window.__xrayRuns !== undefined) return;
  window.__xrayRuns = 0;
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.getAttribute('data-test-script-state') === 'running' && r.oldValue !== 'running')
        window.__xrayRuns += 1;
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
})();"""


def count_runs(page) -> None:
    """From the next document on, count the app's script runs (`runs`, `press`)."""
    page.add_init_script(_COUNT_RUNS_JS)


def runs(page) -> int:
    return page.evaluate("() => window.__xrayRuns || 0")


def wait_idle(page, timeout: float = 120, settle: float = 0.4) -> None:
    """Wait until the app is connected and idle, and stays so for `settle` s."""
    deadline = time.monotonic() + timeout
    page.wait_for_selector('[data-testid="stAppViewContainer"]', timeout=timeout * 1000)
    while True:
        left = max(1.0, deadline - time.monotonic())
        page.wait_for_function(_IDLE_JS, timeout=left * 1000, polling=150)
        before = fingerprint(page)
        page.wait_for_timeout(settle * 1000)
        if page.evaluate(_IDLE_JS) and fingerprint(page) == before:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not settle")


def fingerprint(page) -> dict | None:
    return page.evaluate(_FINGERPRINT_JS)


def exception_texts(page) -> list[str]:
    return [e.inner_text() for e in page.query_selector_all('[data-testid="stException"]')]


def assert_no_exception(page) -> None:
    found = exception_texts(page)
    assert not found, f"stException on the page: {found}"


def assert_no_dialog(page) -> None:
    """Nothing over the page: the app has no dialogs of its own, so one showing
    (Streamlit's "Page not found") leaves the page under it inert."""
    shown = [d.inner_text()[:200] for d in page.query_selector_all('[role="dialog"]') if d.is_visible()]
    assert not shown, f"a dialog covers the page: {shown}"


def open_page(page, base_url: str, url_path: str = "", query: str = "",
              timeout: float = 150) -> None:
    """Open a page of the app and wait until it is connected, idle and clean: no
    exception, no dialog over it."""
    start_opening(page, base_url, url_path, query, timeout)
    finish_opening(page, timeout)


def start_opening(page, base_url: str, url_path: str = "", query: str = "",
                  timeout: float = 150) -> None:
    """Send the browser to a page of the app without waiting for the app: several
    tabs started this way reach the server at the same moment."""
    url = f"{base_url}/{url_path}" + (f"?{query}" if query else "")
    count_runs(page)
    page.goto(url, wait_until="commit", timeout=timeout * 1000)


def finish_opening(page, timeout: float = 150) -> None:
    """The rest of `open_page`: the page connected, idle and clean."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state]', timeout=timeout * 1000)
    # The first run shows the sidebar before the page body: wait for the body too.
    page.wait_for_function(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   return m && m.querySelector('[data-testid="stElementContainer"]'); }""",
        timeout=timeout * 1000, polling=200)
    wait_idle(page, timeout=timeout)
    assert_no_exception(page)
    assert_no_dialog(page)


def press(page, target, timeout: float = 150, unheard_after: float = 20) -> None:
    """Click something that makes the app run (a button, a link: a Playwright
    locator) and wait for that run to start and the app to be idle again. Idle
    alone is not enough: right after a click on a busy machine the page can stay
    idle longer than `wait_idle` settles, and the next step then reads the old view.
    A quick run may never show its "running" state; a click on a button or link
    the app never heard (idle, the same address and text everywhere, sidebar
    included, and the control still there `unheard_after` s later) is made again.
    (A fragment's own timed run counts as a run too: the room pages' live counts.)"""
    def looks():
        return page.url, fingerprint(page), page.evaluate("() => document.body.innerText")

    before, seen = runs(page), looks()
    target.click()
    clicked = time.monotonic()
    deadline = clicked + timeout
    while runs(page) == before:
        if looks() != seen or not target.is_visible():
            break                  # it ran, too quickly for its "running" state to be drawn
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"the click on {target} started no run")
        if now - clicked > unheard_after and page.evaluate(_IDLE_JS) and target.evaluate(
                "(e) => !!e.closest('button, a')"):     # a switch clicked twice would undo itself
            print(f"press: the app did not hear the click on {target}; clicking again",
                  file=sys.stderr)
            target.click()
            clicked = time.monotonic()
        page.wait_for_timeout(200)
    wait_idle(page, timeout=max(1.0, deadline - time.monotonic()))


def follow_link(page, url_path: str, timeout: float = 150) -> None:
    """Click the sidebar's link to a page and wait until the app shows that page,
    idle. Idle alone is not enough: right after the click the old page may still
    be idle for a moment, and a second click then lands on the old page."""
    page.click(f'[data-testid="stSidebar"] a[href$="{url_path}"]')
    page.wait_for_function("(p) => location.pathname.endsWith('/' + p)", arg=url_path,
                           timeout=timeout * 1000, polling=100)
    wait_idle(page, timeout=timeout)


def wait_changed(page, before, timeout: float = 120, idle_timeout: float = 150) -> dict:
    """Wait until the view differs from `before`, then until idle again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = fingerprint(page)
        if now != before and page.evaluate(_IDLE_JS):
            wait_idle(page, timeout=idle_timeout)
            return fingerprint(page)
        page.wait_for_timeout(150)
    raise TimeoutError("the view did not change")


# --- acting on controls -------------------------------------------------------------

MAIN = '[data-testid="stMain"]'


def first_visible(page, selector: str):
    for el in page.query_selector_all(selector):
        if el.is_visible() and el.is_enabled():
            return el
    return None


def type_text(page, text: str) -> bool:
    """Type into the first text area (Ctrl+Enter) or text input (Enter) of the page."""
    area = first_visible(page, f'{MAIN} [data-testid="stTextArea"] textarea')
    if area is not None:
        area.fill(text)
        area.press("Control+Enter")
        return True
    box = first_visible(page, f'{MAIN} [data-testid="stTextInput"] input')
    if box is not None:
        box.fill(text)
        box.press("Enter")
        return True
    return False


def slider_inputs(page) -> list:
    """The keyboard handles of the visible sliders: Streamlit's slider keeps a
    visually hidden range input that takes the arrow keys."""
    return [c.query_selector('input[type="range"]')
            for c in page.query_selector_all(f'{MAIN} [data-testid="stSlider"]')
            if c.is_visible() and c.query_selector('input[type="range"]') is not None]


def move_slider(page, steps: int = 3, key: str = "ArrowRight", index: int = 0) -> bool:
    sliders = slider_inputs(page)
    if len(sliders) <= index:
        return False
    thumb = sliders[index]
    thumb.scroll_into_view_if_needed()
    thumb.focus()
    for _ in range(steps):
        thumb.press(key)
    return True


def pick_select(page, option_index: int = 1, index: int = 0) -> bool:
    """Open the index-th selectbox of the page and pick another option."""
    boxes = [b for b in page.query_selector_all(f'{MAIN} [data-testid="stSelectbox"]')
             if b.is_visible()]
    if len(boxes) <= index:
        return False
    # The combobox opens from the keyboard: ArrowDown shows the list, the next
    # ArrowDown moves to another option, Enter picks it.
    boxes[index].scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    boxes[index].query_selector('input').focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_selector('[role="option"]', timeout=15_000)
    for _ in range(max(1, option_index)):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    return True


def pick_radio(page, index: int = 0) -> bool:
    groups = [g for g in page.query_selector_all(f'{MAIN} [data-testid="stRadio"]') if g.is_visible()]
    if len(groups) <= index:
        return False
    labels = groups[index].query_selector_all('label')
    for label in labels:
        inp = label.query_selector('input')
        if inp is not None and not inp.is_checked():
            label.click()
            return True
    return False


def click_button(page, primary_only: bool = False) -> bool:
    button = first_visible(page, f'{MAIN} [data-testid="stBaseButton-primary"]')
    if button is None and not primary_only:
        button = first_visible(page, f'{MAIN} [data-testid="stButton"] button')
    if button is None:
        return False
    button.click()
    return True


def set_slider(page, arg) -> bool:
    """arg (index, presses): the index-th slider to its minimum, then `presses`
    steps up — e.g. a short answer length so generation stays quick."""
    index, presses = arg
    sliders = slider_inputs(page)
    if len(sliders) <= index:
        return False
    thumb = sliders[index]
    thumb.focus()
    thumb.press("Home")
    for _ in range(presses):
        thumb.press("ArrowRight")
    return True


ACTIONS = {
    "slider_set": set_slider,
    "text": lambda page, arg: type_text(page, arg or "The cat sat on the mat because it was tired."),
    "slider": lambda page, arg: move_slider(page, steps=int(arg or 3)),
    "slider2": lambda page, arg: move_slider(page, steps=int(arg or 3), index=1),
    "select": lambda page, arg: pick_select(page, option_index=int(arg or 1)),
    "radio": lambda page, arg: pick_radio(page),
    "button": lambda page, arg: click_button(page),
}


def act(page, action: str, arg=None, timeout: float = 150, start_within: float = 3.0
        ) -> tuple[bool, dict | None]:
    """Do `action`; return (whether the control existed, the views before and
    after when it changed, else None). When the action starts no script run
    within `start_within` seconds it changed nothing; when it does, wait until
    that run (and any it triggers) is over."""
    before, started = fingerprint(page), runs(page)
    if not ACTIONS[action](page, arg):
        return False, None
    deadline = time.monotonic() + start_within
    while runs(page) == started and fingerprint(page) == before and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    wait_idle(page, timeout=timeout)
    assert_no_dialog(page)
    after = fingerprint(page)
    return True, ({"before": before, "after": after} if after != before else None)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name or 'home'}.png"
    page.screenshot(path=str(path))
    return path


def choose_option(page, text: str | None = None) -> str:
    """In a radio group of the page body, choose the option that reads `text`
    (a token may be shown with ␣ for its space), or the first one. Returns what was chosen."""
    import re

    options = page.locator(f'{MAIN} [data-testid="stRadio"] [role="radiogroup"] label')
    option = (options.filter(has_text=re.compile(rf"^\s*␣?{re.escape(text)}\s*$")) if text
              else options).first
    chosen = option.inner_text().strip()
    option.click()
    return chosen
