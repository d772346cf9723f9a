"""Streamlit's production settings: XSRF protection on, no tracebacks shown to
users, no file watcher (and no rerun on save) on a classroom server."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".streamlit" / "config.toml"


@pytest.fixture(scope="module")
def config() -> dict:
    with CONFIG.open("rb") as fh:
        return tomllib.load(fh)


def test_xsrf_protection_on(config):
    assert config["server"]["enableXsrfProtection"] is True


def test_no_error_details_for_users(config):
    assert config["client"]["showErrorDetails"] == "none"


def test_no_file_watcher(config):
    assert config["server"]["fileWatcherType"] == "none"
    assert config["server"].get("runOnSave", False) is False


def test_cors_not_opened(config):
    # XSRF protection needs CORS on; Streamlit silently turns XSRF off otherwise.
    assert config["server"].get("enableCORS", True) is True


def test_streamlit_reads_the_same_values(monkeypatch):
    """The file is the one Streamlit actually loads from the app folder."""
    from streamlit import config as st_config

    monkeypatch.chdir(ROOT)
    st_config.get_config_options(force_reparse=True)
    try:
        assert st_config.get_option("server.enableXsrfProtection") is True
        assert st_config.get_option("client.showErrorDetails") == "none"
        assert st_config.get_option("server.fileWatcherType") == "none"
    finally:
        st_config.get_config_options(force_reparse=True)


def test_workers_take_the_longest_files_first():
    """`make test`'s order: a file measured long (a module fixture that trains)
    first, then by what its tiers cost: a browser test before two model tests
    before an app test and a unit test; each file's tests in their own order.
    And `make test` keeps that order (xdist would sort by the number of tests)."""
    from types import SimpleNamespace as NS

    from harness import ROOT
    from harness.schedule import heaviest_files_first
    tiers = {"t/unit.py::a": "unit", "t/app.py::a": "app", "t/unit.py::b": "unit",
             "t/model.py::a": "model", "t/browser.py::a": "browser", "t/app.py::b": "unit",
             "t/model2.py::a": "model", "t/model2.py::b": "model",
             "tests/test_finetune.py::a": "unit"}
    items = [NS(nodeid=n) for n in tiers]
    heaviest_files_first(items, lambda item: tiers[item.nodeid])
    assert [i.nodeid for i in items] == [
        "tests/test_finetune.py::a", "t/browser.py::a", "t/model2.py::a", "t/model2.py::b",
        "t/app.py::a", "t/app.py::b", "t/model.py::a", "t/unit.py::a", "t/unit.py::b"]
    test_line = (ROOT / "Makefile").read_text().split("\ntest:")[1].splitlines()[1]
    assert "--dist loadfile --no-loadscope-reorder" in test_line, test_line


def test_a_test_worker_computes_on_one_thread():
    """Under `make test` (pytest-xdist) a worker and what it starts compute on one
    thread each: two processes with a thread per core on the same cores spin
    against each other (bench/threads.py)."""
    import os

    import torch
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("runs under `make test`'s workers (pytest-xdist)")
    assert torch.get_num_threads() == 1
    assert os.environ["LLM_XRAY_THREADS"] == os.environ["OMP_NUM_THREADS"] == "1"


def test_the_imports_are_set_aside_from_the_cycle_collector():
    """llm_core.startup freezes what the imports made: a full collection then walks
    what sessions make, not the ~465,000 objects of torch, transformers, streamlit and
    plotly (0.29 s of CPU with every session held up, once every other wave of a class)."""
    import gc

    import llm_core
    llm_core.startup()                       # once per process; this one may have run it already
    assert gc.get_freeze_count() > 100_000


def test_the_app_shortens_openmps_spin_before_torch_loads():
    """libgomp reads GOMP_SPINCOUNT once, when torch loads it. Every page and app.py
    import `ui` before anything that could bring torch in (tests/test_layering.py), and
    ui/__init__.py sets it before its own first import. Its default spin held a class
    of 30 at 14-18 s beside one busy process (bench/load.py --busy 1), 2.2-2.3 s with
    the short spin."""
    import ast
    body = ast.parse((ROOT / "ui" / "__init__.py").read_text(encoding="utf-8")).body
    spin = next((i for i, node in enumerate(body)
                 if "os.environ.setdefault('GOMP_SPINCOUNT', '1000')" in ast.unparse(node)), None)
    assert spin is not None, "ui/__init__.py no longer sets GOMP_SPINCOUNT"
    assert "OMP_WAIT_POLICY" in ast.unparse(body[spin])          # a policy of its own wins
    before = [node for node in body[:spin] if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [ast.unparse(node) for node in before] == ["import os"]
