"""The order `make test` hands test files to its pytest-xdist workers."""
from __future__ import annotations

# A tier's weight: what one of its tests costs, roughly (tests/conftest.py's tiers).
WEIGHT = {"unit": 0, "tiny": 1, "model": 2, "app": 3, "browser": 4, "school": 4}


def heaviest_files_first(items, tier_of) -> None:
    """Sort `items` in place: files that start a server or a browser first, then
    by how much of the app and the model they run. Workers take whole files in
    this order (--dist loadfile), so the last files to start are short ones and
    no worker runs a long file alone at the end. Tests within a file keep their
    order."""
    per_file: dict[str, list[int]] = {}
    for item in items:
        per_file.setdefault(_file(item), []).append(WEIGHT[tier_of(item)])
    rank = {f: (max(w), sum(w)) for f, w in per_file.items()}
    items.sort(key=lambda item: rank[_file(item)], reverse=True)


def _file(item) -> str:
    return item.nodeid.split("::")[0]
