"""One table of caches (llm_core/model/caches.py): every cache is declared there,
one mechanism (ByteCache) behind all of them, keys that stay right when an
argument is left out, word spaces and Hub models by name."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from llm_core.model import caches, registry, tiny
from llm_core.model.errors import ModelUnavailable

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for d in ("llm_core", "ui", "pages") for p in (ROOT / d).rglob("*.py")] + [ROOT / "app.py"]


def test_every_cache_is_declared_in_the_table():
    """A ByteCache made elsewhere, a Streamlit cache, an lru_cache that takes
    arguments, or a module-level dict filled as a cache would be a cache the
    table does not show."""
    makers = {"llm_core/model/caches.py", "ui/cache.py"}     # the table; shared's per-function home
    bad = []
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name.endswith("ByteCache") and rel not in makers:
                    bad.append(f"{rel}:{node.lineno} ByteCache")
                if name.startswith("st.cache_"):
                    bad.append(f"{rel}:{node.lineno} {name}")
            if isinstance(node, ast.Attribute) and ast.unparse(node).startswith("st.cache_"):
                bad.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
            if isinstance(node, ast.FunctionDef):
                for dec in node.decorator_list:
                    text = ast.unparse(dec)
                    if "lru_cache" in text or text.endswith(".cache"):
                        params = [a.arg for a in node.args.args]
                        # constants computed once: no argument, or a language code
                        if params not in ([], ["lang"]):
                            bad.append(f"{rel}:{node.lineno} {text} on {node.name}({params})")
        for match in re.finditer(r"^_[A-Z_]+(: [^=]+)? = (\{\}|dict\(\)|OrderedDict\(\))",
                                 path.read_text(encoding="utf-8"), re.M):
            # Not caches (caches.py says so): what exists now (loaded models, running
            # jobs, how long a page's job last took) and the pages built once per language.
            allowed = {"llm_core/model/registry.py": ("_LOADED", "_LOAD_LOCKS"),
                       "ui/cache.py": ("_CACHES",), "ui/pages.py": ("_MADE",),
                       "ui/jobs.py": ("_LIVE", "_LAST_SECONDS")}
            if not match.group(0).startswith(allowed.get(rel, ("-",))):
                bad.append(f"{rel}: {match.group(0)}")
    assert bad == []


def test_every_page_cache_has_a_budget_and_every_budget_a_page():
    used = set()
    for path in (ROOT / "pages").glob("*.py"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("@shared"):
                function = re.match(r"def (\w+)", lines[i + 1]).group(1)
                used.add(f"{path.stem}.{function}")
    assert used == set(caches.PAGE_MB)
    assert sum(caches.PAGE_MB.values()) < 1024          # MB, all pages together


def test_a_page_function_without_a_budget_is_refused():
    from ui.cache import shared
    with pytest.raises(KeyError, match="PAGE_MB"):
        @shared
        def unknown(text: str):
            return text


def test_page_caches_survive_reruns(monkeypatch):
    """Streamlit runs a page file anew on each rerun: its cached functions are
    defined anew, and must find their cache again."""
    from ui.cache import shared
    monkeypatch.setitem(caches.PAGE_MB, "test_caches.test_page_caches_survive_reruns.<locals>.view", 1)
    calls = []
    for _ in range(3):      # three "reruns" of the same definition
        @shared
        def view(text: str, _callback=None):
            calls.append(text)
            return text.upper()
        assert view("abc", object()) == "ABC"
    assert calls == ["abc"]


class _Trace:
    def __init__(self, text, n):
        self.cache_key = ("m", text, n)


def test_a_left_out_argument_counts_by_its_cache_key(monkeypatch):
    """A page keyed only by the model name, handed two traces, must not give
    the first trace's value for the second (the key holds the trace's own)."""
    from ui.cache import shared
    name = "test_caches.test_a_left_out_argument_counts_by_its_cache_key.<locals>.count"
    monkeypatch.setitem(caches.PAGE_MB, name, 1)

    @shared
    def count(model: str, _trace):
        return _trace.cache_key[2]

    assert count("m", _Trace("a b", 2)) == 2
    assert count("m", _Trace("a b c", 3)) == 3        # the same model, another trace
    assert count("m", _Trace("a b c", 3)) == 3 and count.cache.hits == 1


@pytest.mark.tiny
def test_word_spaces_are_kept_by_model_name():
    from llm_core.embeddings import model_word_space
    from llm_core.model.handle import ModelHandle, pick_device

    def handle(name, seed):
        model, tokenizer = tiny.tiny_model("llama", seed=seed)
        return ModelHandle(name, model.eval(), tokenizer, pick_device(), "decoder")

    caches.WORD_SPACES.clear()
    first, same_name, other = handle("tiny-a", 1), handle("tiny-a", 1), handle("tiny-b", 2)
    space = model_word_space(first)
    assert model_word_space(same_name) is space
    other_space = model_word_space(other)
    assert other_space is not space and other_space.name == "tiny-b embedding"
    assert not (other_space.vectors == space.vectors).all()
    caches.WORD_SPACES.clear()


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_failed_hub_id_answers_at_once_for_a_minute(monkeypatch):
    clock = _Clock()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(caches.HUB_FAILURES, "clock", clock)
    caches.HUB_FAILURES.clear()
    tries = []

    def download(name, _progress):
        tries.append(name)
        raise ModelUnavailable(f"no {name}", code="hub_failed", name=name)

    monkeypatch.setattr(registry, "_download_hub", download)
    for _ in range(3):
        with pytest.raises(ModelUnavailable, match="no org/gone"):
            registry.load_model("org/gone")
    assert tries == ["org/gone"]
    assert caches.HUB_FAILURES.peek("org/gone") == ("no org/gone", "hub_failed", {"name": "org/gone"})
    clock.now += caches.HUB_FAILURE_S + 1                   # a minute later: asked again
    with pytest.raises(ModelUnavailable):
        registry.load_model("org/gone")
    assert tries == ["org/gone"] * 2
    caches.HUB_FAILURES.clear()


@pytest.mark.tiny
def test_hub_models_keep_the_most_recently_used_few(monkeypatch):
    from llm_core.model.handle import ModelHandle, pick_device
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(caches.HUB_HANDLES, "max_bytes", 2)
    caches.HUB_HANDLES.clear()
    loads = []

    def download(name, _progress):
        loads.append(name)
        model, tokenizer = tiny.tiny_model("gpt2", seed=len(loads))
        return ModelHandle(name, model.eval(), tokenizer, pick_device(), "decoder")

    monkeypatch.setattr(registry, "_download_hub", download)
    a = registry.load_model("org/a")
    registry.load_model("org/b")
    assert registry.load_model("org/a") is a                  # kept, and now the most recent
    registry.load_model("org/c")                              # … so b goes
    assert [registry.is_loaded(n) for n in ("org/a", "org/b", "org/c")] == [True, False, True]
    assert loads == ["org/a", "org/b", "org/c"]
    caches.HUB_HANDLES.clear()


@pytest.mark.tiny
def test_a_hub_encoder_is_a_message_not_a_traceback():
    bert, tokenizer = tiny.tiny_model("bert")
    with pytest.raises(ModelUnavailable) as err:
        registry.hub_handle("org/bert", bert.eval(), tokenizer)
    assert err.value.code == "hub_failed" and "not a decoder" in str(err.value)


def test_only_caches_that_hold_memory_pace_the_janitor():
    """The janitor sleeps a quarter of the shortest TTL it sweeps: a 10 s folder
    scan made it sweep (and collect garbage) every 2.5 s."""
    from llm_core.model import memo
    swept = set(memo._CACHES)
    assert {caches.FOLDER_SCANS, caches.HUB_FAILURES, caches.HUB_HANDLES}.isdisjoint(swept)
    assert {caches.TRACES, caches.LAYER_DETAILS, caches.WORD_SPACES, caches.JOB_RESULTS} <= swept


ALLOCATOR_PROBE = r"""
import ctypes, importlib.util, sys
spec = importlib.util.spec_from_file_location("memo", sys.argv[1])
memo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memo)           # memo alone: no torch in this process


class Info(ctypes.Structure):           # glibc's struct mallinfo2
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
memo.tune_allocator()


def mmapped(size):
    before = libc.mallinfo2().hblks
    block = libc.malloc(size)
    during = libc.mallinfo2().hblks
    libc.free(block)
    return during - before


print(mmapped(3 << 20), mmapped(33 << 20))
"""


def test_activation_sized_blocks_come_from_the_heap_and_large_ones_are_mmapped():
    """memo.tune_allocator: a batch's 1–3 MB activations are served from the heap
    (at a 128 KB threshold each was a fresh mmap the kernel zeroed: 0.6 s of a
    1.1 s class batch), while a block over 32 MB (a long text's trace) is still
    mmapped, so it goes back to the system the moment it is freed."""
    import ctypes
    import subprocess
    import sys

    from llm_core.model import memo
    try:
        counts_blocks = hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:                     # not glibc: tune_allocator does nothing there either
        counts_blocks = False
    if not counts_blocks:
        pytest.skip("needs glibc 2.33 or later (mallinfo2 counts the mmapped blocks)")
    out = subprocess.run([sys.executable, "-c", ALLOCATOR_PROBE, memo.__file__],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["0", "1"]
