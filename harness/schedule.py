"""The order `make test` hands test files to its pytest-xdist workers: longest
first (--dist loadfile --no-loadscope-reorder; xdist's own reorder sorts by the
number of tests, which puts a file of three 40-second browser tests last)."""
from __future__ import annotations

# Seconds a file took on one worker of `make test` on a 2-core machine, for the
# files whose cost the tiers do not tell (a module fixture that trains, a server
# and a browser per test). Only the order depends on these: a stale number makes
# the run less balanced, never wrong.
MEASURED_S = {
    "tests/browser/test_pages.py": 240, "tests/test_finetune.py": 85, "tests/test_class.py": 67,
    "tests/test_bad_input.py": 67, "tests/browser/test_classroom.py": 60,
    "tests/test_quantization.py": 50, "tests/browser/test_jobs.py": 46,
    "tests/test_next_generate.py": 41, "tests/test_app_pages.py": 38,
    "tests/test_classroom.py": 38, "tests/browser/test_school.py": 36,
    "tests/test_distillation.py": 35, "tests/browser/test_escaping.py": 32,
}
# Otherwise, what one test of a tier costs, roughly (tests/conftest.py's tiers).
TIER_S = {"unit": 0.02, "tiny": 0.1, "model": 0.3, "app": 0.4, "browser": 8, "school": 30}


def heaviest_files_first(items, tier_of) -> None:
    """Sort `items` in place, longest file first. Workers take whole files in this
    order, so the last files to start are short ones and no worker runs a long
    file alone at the end. Tests within a file keep their order."""
    per_file: dict[str, float] = {}
    for item in items:
        per_file[_file(item)] = per_file.get(_file(item), 0.0) + TIER_S[tier_of(item)]
    cost = {f: MEASURED_S.get(f, s) for f, s in per_file.items()}
    items.sort(key=lambda item: cost[_file(item)], reverse=True)


def _file(item) -> str:
    return item.nodeid.split("::")[0]
