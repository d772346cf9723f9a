"""Errors a user can cause. Each carries a stable `code` so the UI can show it in
the user's language; `str(err)` is the English sentence the CLI prints."""
from __future__ import annotations


class XRayError(Exception):
    """Base class: a clear, one-line problem with the input or the environment."""

    code = "error"

    def __init__(self, message: str, code: str | None = None, **params):
        super().__init__(message)
        if code:
            self.code = code
        self.params = params


class InputError(XRayError):
    """Bad user input: empty text, a temperature below 0, an unknown word …"""

    code = "bad_input"


class ModelUnavailable(XRayError):
    """A model that cannot be loaded here (unknown id, offline, unsupported files)."""

    code = "model_unavailable"
