"""The architecture rules that keep the project readable."""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_streamlit_or_plotly():
    for path in (ROOT / "llm_core").glob("*.py"):
        assert not imports_of(path) & {"streamlit", "plotly"}, path.name


def test_figures_are_pure():
    for path in (ROOT / "ui").glob("fig_*.py"):
        assert "streamlit" not in imports_of(path), path.name


def test_pages_do_not_import_torch():
    for path in sorted((ROOT / "pages").glob("*.py")):
        assert "torch" not in imports_of(path), f"{path.name}: tensor math belongs in llm_core"


def _keys(lang: str) -> dict[str, set[str]]:
    out = {}
    for path in sorted((ROOT / "ui" / "locales" / lang).glob("*.toml")):
        def flat(prefix, table):
            for k, v in table.items():
                yield from flat(f"{prefix}.{k}", v) if isinstance(v, dict) else [f"{prefix}.{k}"]
        out[path.name] = set(flat(path.stem, tomllib.loads(path.read_text(encoding="utf-8"))))
    return out


def test_both_languages_have_the_same_keys():
    en, zh = _keys("en"), _keys("zh")
    assert en.keys() == zh.keys()
    for name in en:
        assert en[name] == zh[name], (name, en[name] ^ zh[name])


def test_placeholders_match_between_languages():
    pattern = re.compile(r"\{(\w+)")
    for path in (ROOT / "ui" / "locales" / "en").glob("*.toml"):
        en = tomllib.loads(path.read_text(encoding="utf-8"))
        zh = tomllib.loads((ROOT / "ui" / "locales" / "zh" / path.name).read_text(encoding="utf-8"))

        def walk(a, b, where):
            for k, v in a.items():
                if isinstance(v, dict):
                    walk(v, b[k], f"{where}.{k}")
                else:
                    assert set(pattern.findall(v)) == set(pattern.findall(b[k])), f"{where}.{k}"
        walk(en, zh, path.stem)


def test_every_translation_key_used_in_code_exists():
    en = set().union(*_keys("en").values())
    used = set()
    for folder in ("pages", "ui"):
        for path in (ROOT / folder).glob("*.py"):
            used.update(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""",
                                   path.read_text(encoding="utf-8")))
    used.update(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""",
                           (ROOT / "app.py").read_text(encoding="utf-8")))
    missing = sorted(k for k in used if k not in en)
    assert not missing, missing


def test_no_machine_paths_in_the_project():
    for path in ROOT.rglob("*"):
        if any(part in (".venv", ".venv-peers", ".git", "test-artifacts", "__pycache__", ".ruff_cache",
                        ".pytest_cache") for part in path.parts):
            continue
        if path.is_file() and path.suffix in (".py", ".md", ".toml", ".txt", "") and path.stat().st_size < 500_000:
            text = path.read_text(encoding="utf-8", errors="ignore")
            for needle in ("/" + "work/", "/" + "root/", "/" + "home/"):
                assert needle not in text, (path, needle)


def test_every_heatmap_uses_a_colour_blind_safe_scale():
    """Sequential single-hue (Blues), perceptually uniform (Viridis, Cividis,
    Twilight for angles) or ColorBrewer's blue-red diverging scale: all readable
    with the common colour blindnesses and on a projector. No rainbow (Jet)."""
    safe = {"Blues", "Viridis", "Cividis", "Twilight", "RdBu", "RdBu_r"}
    found = set()
    for path in (ROOT / "ui").glob("fig_*.py"):
        source = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'colorscale="(\w+)"', source))
        found |= set(re.findall(r'^DIVERGING = "(\w+)"', source, re.M))
    assert found and found <= safe, found - safe


def test_the_limits_on_user_input_are_set_in_one_place():
    """MAX_CHARS, the token caps, the generation caps …: defined in llm_core/limits.py
    only (other modules import them), so a page, the core and the CLI agree."""
    names = {n for n in re.findall(r"^([A-Z_]+) = ", (ROOT / "llm_core" / "limits.py").read_text(
        encoding="utf-8"), re.M)}
    assert {"MAX_CHARS", "PAGE_MAX_TOKENS", "MAX_NEW_TOKENS", "PAGE_MAX_NEW_TOKENS"} <= names
    for folder in ("llm_core", "ui", "pages"):
        for path in (ROOT / folder).glob("*.py"):
            if path.name == "limits.py":
                continue
            defined = set(re.findall(r"^([A-Z_]+) = ", path.read_text(encoding="utf-8"), re.M))
            assert not defined & names, (path.name, defined & names)
