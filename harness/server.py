"""A real `streamlit run app.py` on a free localhost port, in its own process
group, and the app's page list read from ui/pages.py without importing the app."""
from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

from harness import ARTIFACTS, ROOT, WORKER

# Each pytest-xdist worker probes its own block: two workers finding the same
# free port at once would both start a server on it.
PORTS = range(8620 + 40 * int(WORKER[2:] or 0), 8660 + 40 * int(WORKER[2:] or 0))

# --- the page list comes from the app itself (ui/pages.py), so it never drifts -


def app_pages() -> list[tuple[str, str, str]]:
    """PAGES from ui/pages.py: (section, page name = url path, icon), read without importing the app."""
    tree = ast.parse((ROOT / "ui" / "pages.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets):
            return [tuple(p) for p in ast.literal_eval(node.value)]
    raise AssertionError("ui/pages.py has no PAGES list")


def page_url_path(name: str) -> str:
    """The default page (pipeline) is served at the root."""
    return "" if name == "pipeline" else name


# --- the server ------------------------------------------------------------------


def free_port(ports=PORTS) -> int:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}–{ports.stop - 1}")


class Server:
    """`streamlit run app.py` in its own process group on 127.0.0.1."""

    def __init__(self, port: int | None = None, log_name: str = "streamlit-server.log",
                 extra_env: dict | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / log_name
        self.proc: subprocess.Popen | None = None
        self.extra_env = extra_env or {}

    def start(self, timeout: float = 180) -> "Server":
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   TOKENIZERS_PARALLELISM="false", **self.extra_env)
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py",
               "--server.port", str(self.port), "--server.address", "127.0.0.1",
               "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/_stcore/health", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own group only
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        self.proc = None


@contextmanager
def running_server(**kwargs):
    server = Server(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
