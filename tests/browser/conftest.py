"""Fixtures for the browser tests: one `streamlit run app.py` server and one
headless Chromium for the whole session, a fresh 1280×720 page per test.

Without /usr/bin/chromium the tests are skipped on a developer machine, but in
CI (env CI set) they must run, so there they fail instead."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.browser import CHROMIUM, VIEWPORT, launch_browser
from harness.server import Server


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end test in headless Chromium")


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed (browser tests run in CI)")


@pytest.fixture(scope="session")
def server():
    _need_chromium()
    srv = Server(log_name="streamlit-browser-tests.log").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch_browser(pw)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(60_000)
    tab = context.new_page()
    yield tab
    context.close()
    # Whatever a test did, the server must still be serving.
    assert server.alive(), "the server stopped serving:\n" + server.log_tail()
