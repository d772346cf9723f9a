"""What the tests and the benchmarks share to drive the real app: a
`streamlit run app.py` server (server.py), websocket sessions that speak
Streamlit's own protocol (stream.py) and headless Chromium (browser.py).
Never imported by the app itself."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Under pytest-xdist ("gw0", "gw1", …) each worker keeps its own logs and screenshots.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
ARTIFACTS = ROOT / "test-artifacts" / WORKER
