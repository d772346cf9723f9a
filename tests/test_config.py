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
