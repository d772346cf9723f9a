"""Shared UI pieces for the pages: i18n, cached model handles and traces,
token chips, error messages. Figures are pure functions in ui/fig_*.py."""

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
