"""A training job in a real browser: it shows progress and its curve live, Cancel stops it (the
page says so and shows no result), the slot is free again at once, and a
student on another page is served while a job runs."""
from __future__ import annotations

import time

import pytest

from harness.browser import MAIN, assert_no_exception, open_page, wait_idle

pytestmark = pytest.mark.browser


def _progress_text(page, timeout: float = 120) -> str:
    bar = page.wait_for_selector(f'{MAIN} [data-testid="stProgress"]', timeout=timeout * 1000)
    return bar.inner_text()


def test_cancel_stops_a_training_job(page, server):
    open_page(page, server.url, "finetune")
    page.click(f'{MAIN} [data-testid="stBaseButton-primary"]')
    _progress_text(page)
    # Wait for a training step (not only the measurements before training).
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stProgress"]')]
        .some(e => /After [1-9]/.test(e.innerText))""", timeout=120_000, polling=250)
    # The curve is drawn live, step by step, while the job runs.
    page.wait_for_selector(f'{MAIN} [data-testid="stPlotlyChart"]', timeout=30_000)
    page.click(f'{MAIN} button:has-text("Cancel")')
    wait_idle(page, timeout=120)
    assert_no_exception(page)
    assert page.query_selector(f'{MAIN} :text("Cancelled. Nothing was kept")')
    assert not page.query_selector(f'{MAIN} [data-testid="stPlotlyChart"]')
    assert not page.query_selector(f'{MAIN} [data-testid="stProgress"]')
    # The job's slot went with it: a new job starts at once (no queue message).
    page.click(f'{MAIN} [data-testid="stBaseButton-primary"]')
    text = _progress_text(page, timeout=30)
    assert "busy" not in text.lower()
    page.click(f'{MAIN} button:has-text("Cancel")')
    wait_idle(page, timeout=120)


def test_another_page_is_served_while_a_job_runs(browser, server):
    teacher = browser.new_context(viewport={"width": 1280, "height": 720})
    student = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        trainer, reader = teacher.new_page(), student.new_page()
        open_page(trainer, server.url, "finetune")
        trainer.click(f'{MAIN} [data-testid="stBaseButton-primary"]')
        _progress_text(trainer)
        start = time.monotonic()
        open_page(reader, server.url, "tokens")
        served = time.monotonic() - start
        assert_no_exception(reader)
        assert reader.query_selector(f'{MAIN} [data-testid="stHtml"], {MAIN} [data-testid="stMarkdown"]')
        # The job is still running when the other page is already there.
        assert trainer.query_selector(f'{MAIN} [data-testid="stProgress"]'), served
        trainer.click(f'{MAIN} button:has-text("Cancel")')
        wait_idle(trainer, timeout=120)
    finally:
        teacher.close()
        student.close()
