"""Shared UI pieces for the pages: i18n, cached model handles and traces,
token chips, error messages. Figures are pure functions in ui/fig_*.py; this
package sets plotly's default template they take (Streamlit's chart theme,
trimmed: see the end of this file)."""
import os

# First, before torch loads OpenMP (every page and app.py import this package
# before anything that brings torch in; a fresh server's first session may run a
# page without app.py, see ui/pages.inside_app). libgomp's waiting threads spin
# 300,000 times before they sleep: beside any other busy process on the machine
# they spun against it, and a class of 30 on the pipeline page waited p95 14-18 s
# (bench/load.py --busy 1). With a short spin, 2.2-2.3 s; quiet, one trace took
# 82 ms and a 30-row batch 702 ms, within the default's spread (73-84 and
# 653-807 ms). OMP_WAIT_POLICY=PASSIVE was as good when busy and 20 % slower
# quiet. A wait policy or spin count of the server's own environment wins (libgomp
# lets a spin count override the policy, so none is set beside one).
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")

# Imported whole here, before any page runs: plotly looks pandas up in
# sys.modules without importing it, and a page importing pandas for the first
# time in another session's thread left plotly a half-initialised module
# ("partially initialized module 'pandas' has no attribute 'Series"). Every
# session imports this package first, and Python makes it wait until done.
import pandas  # noqa: E402,F401

# The same for the model core: two sessions importing llm_core's modules for the
# first time in their own threads can meet in the middle of a cycle and get
# Python's "_DeadlockError: deadlock detected by _ModuleLock('llm_core.model')"
# (seen when a fresh server served twelve pages at once). Imported whole here,
# while this package's own import makes every other session wait.
import importlib  # noqa: E402
import pkgutil  # noqa: E402

import llm_core  # noqa: E402

for _module in pkgutil.walk_packages(llm_core.__path__, "llm_core."):
    if not _module.name.endswith("__main__"):
        importlib.import_module(_module.name)

# Streamlit registers its chart theme as plotly's default template when it is
# imported; every figure copies the default and every chart sends it. The app's
# default is that theme without the parts for trace types no page draws
# (ui/fig_common.app_template): the same charts, ~0.8 ms less per chart.
import plotly.io as _pio  # noqa: E402
import streamlit.elements.plotly_chart  # noqa: E402,F401 — registers pio.templates["streamlit"]

from ui.fig_common import app_template  # noqa: E402

_pio.templates["llm_xray"] = app_template(_pio.templates["streamlit"])
_pio.templates.default = "llm_xray"
