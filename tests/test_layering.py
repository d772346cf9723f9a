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
    for path in (ROOT / "llm_core").rglob("*.py"):
        assert not imports_of(path) & {"streamlit", "plotly"}, path.name


def test_figures_are_pure():
    for path in (ROOT / "ui").glob("fig_*.py"):
        assert "streamlit" not in imports_of(path), path.name


def test_pages_do_no_tensor_math_and_never_touch_the_tokenizer():
    """Pages pick what to show and call llm_core: no torch or numpy, and no
    tokenizer of their own (the handle's is shared by every session and needs its
    lock: handle.encode / decode, llm_core.tokens, tokens.tokens_of)."""
    for path in sorted((ROOT / "pages").glob("*.py")):
        assert not imports_of(path) & {"torch", "numpy"}, f"{path.name}: the math belongs in llm_core"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        touched = [n.lineno for n in ast.walk(tree)
                   if isinstance(n, ast.Attribute) and n.attr == "tokenizer"]
        assert not touched, f"{path.name}:{touched}: the tokenizer is llm_core's"


# Tensor and array methods that compute: a page calls llm_core for them (picking
# a row or a column by index is choosing what to plot and stays in the page).
TENSOR_MATH = {"argsort", "argmax", "argmin", "topk", "softmax", "log_softmax", "norm", "matmul",
               "einsum", "flatten", "numpy", "abs", "sum", "mean", "std", "max", "min", "cumsum",
               "exp", "log", "detach", "float", "astype", "dropna", "to_numeric", "round"}


def test_pages_call_llm_core_for_tensor_math():
    for path in sorted((ROOT / "pages").glob("*.py")):
        calls = [f"{n.lineno}:{n.func.attr}" for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr in TENSOR_MATH]
        assert not calls, f"{path.name}: {calls} — the math belongs in llm_core"


def test_pages_read_like_a_lesson_in_at_most_150_lines():
    for path in sorted((ROOT / "pages").glob("*.py")):
        n = len(path.read_text(encoding="utf-8").splitlines())
        assert n <= 150, f"{path.name}: {n} lines"


# A translated string a figure shows arrives in its one `labels` dict, never as a
# parameter of its own. fig_common's layout helpers are the figures' building blocks.
LABEL_PARAM = re.compile(r"^(title|.*_title|.*_axis|.*_name|hover.*|.*_word|template|colorbar)$")
BUILDING_BLOCKS = {("fig_common", "layout"), ("fig_common", "figure")}


def test_figures_take_their_words_in_one_labels_object():
    for path in sorted((ROOT / "ui").glob("fig_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_") \
                    or (path.stem, node.name) in BUILDING_BLOCKS:
                continue
            a = node.args
            params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
            wordy = [p for p in params if LABEL_PARAM.match(p)]
            assert not wordy, f"{path.stem}.{node.name}{wordy}: put them in labels"


LESSON_FREE = {"classroom": "a class room is the app's state (ui/rooms.py), no model math"}


def _imported_modules(path: Path) -> set[str]:
    """Dotted modules a file imports, `from llm_core import x` counted as llm_core.x."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_a_lesson_is_found_by_its_name():
    """pages/X.py → llm_core/X.py (its math) → ui/fig_X.py (its figures, where it
    draws any of its own); the model machinery in llm_core/model/; nothing else."""
    from ui.pages import MOVED, PAGES
    names = [name for _, name, _ in PAGES]
    # Besides the lessons, only the old links' two-line forwarders (ui/pages.MOVED).
    assert sorted(names + list(MOVED)) == sorted(p.stem for p in (ROOT / "pages").glob("*.py"))
    for old in MOVED:
        assert len((ROOT / "pages" / f"{old}.py").read_text(encoding="utf-8").splitlines()) <= 4
    for name in names:
        imported = _imported_modules(ROOT / "pages" / f"{name}.py")
        if name in LESSON_FREE:
            assert not (ROOT / "llm_core" / f"{name}.py").exists()
            continue
        assert (ROOT / "llm_core" / f"{name}.py").exists(), f"llm_core/{name}.py"
        assert f"llm_core.{name}" in imported, f"pages/{name}.py does not use llm_core/{name}.py"
        if (ROOT / "ui" / f"fig_{name}.py").exists():
            assert f"ui.fig_{name}" in imported, f"pages/{name}.py does not use ui/fig_{name}.py"
    lessons = set(names)
    for path in (ROOT / "ui").glob("fig_*.py"):
        stem = path.stem.removeprefix("fig_")
        assert stem in lessons | {"common"}, f"ui/{path.name} belongs to no page"
    core = {p.stem for p in (ROOT / "llm_core").glob("*.py")} - {"__init__", "__main__", "cli"}
    assert core <= lessons, f"llm_core modules no page is named after: {sorted(core - lessons)}"
    for machinery in ("handle", "registry", "convert", "trace"):    # one job each
        assert (ROOT / "llm_core" / "model" / f"{machinery}.py").exists(), machinery


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
    """MAX_CHARS, the token caps, the generation caps …: defined in llm_core/model/limits.py
    only (other modules import them), so a page, the core and the CLI agree."""
    names = {n for n in re.findall(r"^([A-Z_]+) = ", (ROOT / "llm_core" / "model" / "limits.py").read_text(
        encoding="utf-8"), re.M)}
    assert {"MAX_CHARS", "PAGE_MAX_TOKENS", "MAX_NEW_TOKENS", "PAGE_MAX_NEW_TOKENS"} <= names
    for folder in ("llm_core", "ui", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "limits.py":
                continue
            defined = set(re.findall(r"^([A-Z_]+) = ", path.read_text(encoding="utf-8"), re.M))
            assert not defined & names, (path.name, defined & names)


# A number that bounds what a user may ask: a cap named MAX_/MIN_ or …_CHARS/…_LIMIT, or a
# text box's max_chars. Other numbers (a lesson's settings, a display's size) stay with
# their lesson.
LIMIT_NAME = re.compile(r"^(MAX|MIN)_|_(CHARS|LIMIT)$")


def test_no_limit_on_user_input_is_defined_outside_limits_py():
    """Found by what a limit is, not by the names limits.py already has: a new cap
    written anywhere else, or a literal max_chars, fails here."""
    found = []
    for folder in ("llm_core", "ui", "pages", "app.py"):
        paths = [ROOT / folder] if folder.endswith(".py") else (ROOT / folder).rglob("*.py")
        for path in paths:
            if path.name == "limits.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:                     # module-level names bound to numbers
                if isinstance(node, ast.Assign):
                    numbers = [v for v in ast.walk(node.value) if isinstance(v, ast.Constant)
                               and isinstance(v.value, (int, float)) and not isinstance(v.value, bool)]
                    names = [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
                    found += [f"{path.name}: {n}" for n in names if numbers and LIMIT_NAME.search(n)]
            for call in ast.walk(tree):                # text boxes cut at a literal
                if isinstance(call, ast.Call):
                    found += [f"{path.name}:{call.lineno} max_chars={k.value.value}" for k in call.keywords
                              if k.arg == "max_chars" and isinstance(k.value, ast.Constant)]
    assert not found, found


def test_every_page_imports_the_ui_package_before_the_model_core():
    """A fresh server runs the first pages in threads of their own. A page whose first
    import is a module of llm_core holds that module's import lock while Python imports
    its parent package, which another thread may be importing, itself waiting for that
    module: `_DeadlockError` (seen with llm_core.model.tokens under load). Importing
    `ui` first makes every thread wait for one package that imports the core whole.
    Nothing before it brings torch in either: ui/__init__.py sets OpenMP's spin
    before torch loads (tests/test_config.py), and app.py imports ui the same way."""
    light = {"__future__", "os", "math", "time", "pathlib", "pandas", "streamlit"}
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]:
        body = ast.parse(path.read_text(encoding="utf-8")).body
        first = next(node for node in body
                     if isinstance(node, (ast.Import, ast.ImportFrom))
                     and (getattr(node, "module", None) or node.names[0].name).split(".")[0]
                     in ("llm_core", "ui"))
        name = getattr(first, "module", None) or first.names[0].name
        assert name.split(".")[0] == "ui", (path.name, name)
        before = [m for node in body[:body.index(first)] for m in _top_modules(node)]
        assert set(before) <= light, (path.name, before)


def _top_modules(node) -> list[str]:
    """The top-level packages the statement `node` imports, however nested."""
    return [name.split(".")[0] for sub in ast.walk(node)
            for name in ([a.name for a in sub.names] if isinstance(sub, ast.Import)
                         else [sub.module or ""] if isinstance(sub, ast.ImportFrom) else [])]


def test_imports_are_at_module_level_unless_a_comment_says_why():
    """An import inside a function is a choice (a heavy library only one path
    needs, the CLI answering --help before torch loads): the comment says which."""
    bad = []
    for path in [p for d in ("llm_core", "ui", "pages") for p in (ROOT / d).rglob("*.py")]:
        lines = path.read_text(encoding="utf-8").splitlines()
        explained_for_file = path.name == "cli.py"            # its docstring says why, once
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)) and not explained_for_file:
                    here, above = lines[sub.lineno - 1], lines[sub.lineno - 2].strip()
                    if "#" not in here and not above.startswith(("#", "import ", "from ")):
                        bad.append(f"{path.relative_to(ROOT)}:{sub.lineno} {here.strip()}")
    assert bad == []
