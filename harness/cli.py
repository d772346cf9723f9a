"""The command line run in this process: what `python -m llm_core ARGS` prints
and returns, without starting a new Python and loading torch and the model
again for every call (seconds each). The process boundary itself (argv and stdin
bytes decoded by Python, the exit status) is checked by a few real subprocesses."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass

from harness import ROOT


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(argv: list[str], stdin: bytes | None = None) -> Result:
    """llm_core.cli.main(argv) with stdin, stdout and stderr of its own. stdin is
    decoded as Python decodes a pipe under a UTF-8 locale (surrogateescape)."""
    from llm_core.cli import main

    out, err = io.StringIO(), io.StringIO()
    fake_in = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8", errors="surrogateescape")
    old_in = sys.stdin
    sys.stdin = fake_in
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exit_:       # argparse: --help, a usage error
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.stdin = old_in
    return Result(code, out.getvalue(), err.getvalue())


def run_cli_process(argv: list[str], stdin: bytes | None = None, env: dict | None = None,
                    timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m llm_core ARGS` in a new process (bytes in, bytes out). The
    timeout is a hang guard, not a speed check."""
    return subprocess.run([sys.executable, "-m", "llm_core", *argv], cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
                          input=stdin if stdin is not None else b"", capture_output=True,
                          timeout=timeout)
