"""Jobs in a real browser: a training job shows its measured progress and its
curve live; Cancel stops it (the page says so, keeps nothing) and the slot is
free at once for another student; a closed tab frees it too; a student on
another page is served while a job runs."""
from __future__ import annotations

import pytest

from harness.browser import MAIN, VIEWPORT, assert_no_exception, open_page, wait_idle

pytestmark = pytest.mark.browser
TRAINING_STEP = r"/Training: step [1-9]\d* of \d+, about \d+ s left/"
QUEUED = "Waiting for a free slot"


def _progress_text(page, timeout: float = 120) -> str:
    bar = page.wait_for_selector(f'{MAIN} [data-testid="stProgress"]', timeout=timeout * 1000)
    return bar.inner_text()


def _training(page) -> None:
    """Wait for a training step (not only the measurements before training)."""
    page.wait_for_function(f"""() => [...document.querySelectorAll('[data-testid="stProgress"]')]
        .some(e => {TRAINING_STEP}.test(e.innerText))""", timeout=180_000, polling=250)


def _starts_without_queueing(browser, server) -> None:
    """Another student's long job (quantizing a copy) starts at once: its bar
    shows a step of its own, and it never waited in the queue."""
    other = browser.new_context(viewport=VIEWPORT)
    try:
        page = other.new_page()
        open_page(page, server.url, "quantization", query="quantization.bits=3&quantization.group=128")
        page.click(f'{MAIN} [data-testid="stBaseButton-primary"]')
        page.wait_for_function(r"""() => [...document.querySelectorAll('[data-testid="stProgress"]')]
            .some(e => /step [1-9]/.test(e.innerText))""", timeout=60_000, polling=100)
        assert QUEUED not in page.inner_text(MAIN)
        page.click(f'{MAIN} button:has-text("Cancel")')
        wait_idle(page, timeout=120)
    finally:
        other.close()


def test_cancel_stops_a_training_job_and_frees_its_slot(page, browser, server):
    open_page(page, server.url, "finetune")
    page.click(f'{MAIN} [data-testid="stBaseButton-primary"]')
    _training(page)
    # The curve is drawn live, step by step, while the job runs.
    page.wait_for_selector(f'{MAIN} [data-testid="stPlotlyChart"]', timeout=30_000)
    page.click(f'{MAIN} button:has-text("Cancel")')
    wait_idle(page, timeout=120)
    assert_no_exception(page)
    assert page.query_selector(f'{MAIN} :text("Cancelled. Nothing was kept")')
    assert not page.query_selector(f'{MAIN} [data-testid="stPlotlyChart"]')
    assert not page.query_selector(f'{MAIN} [data-testid="stProgress"]')
    _starts_without_queueing(browser, server)


def test_a_closed_tab_frees_its_slot(browser, server):
    leaving = browser.new_context(viewport=VIEWPORT)
    tab = leaving.new_page()
    open_page(tab, server.url, "finetune")
    tab.click(f'{MAIN} [data-testid="stBaseButton-primary"]')
    _training(tab)
    leaving.close()                 # the student closes the tab mid-training
    _starts_without_queueing(browser, server)


def test_another_page_is_served_while_a_job_runs(browser, server):
    teacher = browser.new_context(viewport=VIEWPORT)
    student = browser.new_context(viewport=VIEWPORT)
    try:
        trainer, reader = teacher.new_page(), student.new_page()
        open_page(trainer, server.url, "finetune")
        trainer.click(f'{MAIN} [data-testid="stBaseButton-primary"]')
        _progress_text(trainer)
        open_page(reader, server.url, "tokens")
        assert_no_exception(reader)
        assert reader.query_selector(f'{MAIN} [data-testid="stHtml"], {MAIN} [data-testid="stMarkdown"]')
        # The job is still running when the other page is already there.
        assert trainer.query_selector(f'{MAIN} [data-testid="stProgress"]')
        trainer.click(f'{MAIN} button:has-text("Cancel")')
        wait_idle(trainer, timeout=120)
    finally:
        teacher.close()
        student.close()
