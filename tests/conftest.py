"""Shared fixtures and the test tiers. Tests run offline.

Every test has exactly one tier (markers declared in pyproject.toml):
- unit: no model at all;
- tiny: 2-layer random models built in the test (llm_core/model/tiny.py);
- model: the embedded models (SmolLM2, MiniLM, GloVe);
- app: pages through AppTest;
- browser, school: a real server in Chromium; replicas, HAProxy and Redis.
A test marked app or tiny says so; browser and school tests live in tests/browser;
any other test is `model` when it asks for an embedded model's fixture and `unit`
otherwise. `make test-fast` runs unit + tiny. The tiers are kept honest while the
tests run: a unit or tiny test that loads an embedded model fails, and so does a
test outside the app tiers that opens the app."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["LLM_XRAY_CHECK_FIGURES"] = "1"   # ui/fig_common.figure: each figure also built validated
# `make test` runs one pytest-xdist worker per core. Each worker, and every server
# and CLI it starts, then computes on one thread: two processes of two OpenMP
# threads on 2 cores spin against each other (bench/threads.py: 4-5× slower each);
# two of one thread each run as fast as one alone.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = os.environ["LLM_XRAY_THREADS"] = "1"

import pytest  # noqa: E402

from harness.schedule import heaviest_files_first  # noqa: E402

TIERS = ("unit", "tiny", "model", "app", "browser", "school")
MODEL_FIXTURES = {"decoder", "encoder", "glove"}
FAST = ("unit", "tiny")


def tier_of(item) -> str:
    return next(m.name for m in item.iter_markers() if m.name in TIERS)


def pytest_collection_modifyitems(config, items):
    bad = []
    for item in items:
        marked = {m.name for m in item.iter_markers() if m.name in TIERS}
        if not marked:
            uses_model = bool(MODEL_FIXTURES & set(getattr(item, "fixturenames", ())))
            item.add_marker("model" if uses_model else "unit")
            continue
        if len(marked) > 1:
            bad.append(f"{item.nodeid}: more than one tier {sorted(marked)}")
        elif marked <= set(FAST) and MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            bad.append(f"{item.nodeid}: tier {marked.pop()} but asks for an embedded model")
    if bad:
        raise pytest.UsageError("tests with a wrong tier:\n" + "\n".join(bad))
    heaviest_files_first(items, tier_of)


@pytest.fixture(autouse=True)
def _keep_the_tier_honest(request, monkeypatch):
    tier = tier_of(request.node)
    if tier in FAST:
        from llm_core.model import registry as load

        real = load._load

        def refuse(name, progress):
            if name in load.EMBEDDED:
                pytest.fail(f"a {tier} test loaded the embedded model '{name}' (mark it model)")
            return real(name, progress)
        monkeypatch.setattr(load, "_load", refuse)
    if tier in FAST + ("model",):
        from streamlit.testing.v1 import AppTest

        def refuse_app(*_a, **_k):
            pytest.fail(f"a {tier} test opened the app (mark it app)")
        monkeypatch.setattr(AppTest, "from_file", refuse_app)


@pytest.fixture(scope="session")
def decoder():
    import llm_core
    return llm_core.load_model("smollm2")


@pytest.fixture(scope="session")
def encoder():
    import llm_core
    return llm_core.load_model("minilm")


@pytest.fixture(scope="session")
def glove():
    from llm_core.embeddings import load_word_vectors
    return load_word_vectors()


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """A server's model folder (LLM_XRAY_MODELS) of tiny random models: one of
    each traced family, a GGUF file, and the entries that must be listed with a
    reason instead. Returns (folder, {name: the model a GGUF file was written from})."""
    import json

    from llm_core.model import tiny as tiny_models
    root = tmp_path_factory.mktemp("models")
    for family in ("llama", "qwen2", "mistral", "gpt2", "bert"):
        tiny_models.save_checkpoint(root / family, family, seed=1)
    originals = {"tiny-gguf": tiny_models.save_gguf(root / "tiny-gguf.gguf", seed=2)}
    tiny_models.save_gguf(root / "odd-type.gguf", odd_type=True)
    # A truncated weights file, an architecture the trace does not know, a name
    # that is taken, a file that only looks like a GGUF, a model too big.
    tiny_models.save_checkpoint(root / "cut", "llama")
    weights = root / "cut" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    tiny_models.save_checkpoint(root / "unknown-arch", "llama")
    config = json.loads((root / "unknown-arch" / "config.json").read_text())
    config["model_type"] = "falcon"
    (root / "unknown-arch" / "config.json").write_text(json.dumps(config))
    tiny_models.save_checkpoint(root / "smollm2", "gpt2")
    (root / "fake.gguf").write_bytes(b"GGUF" + b"\0" * 20)
    (root / "notes.txt").write_text("not a model")
    big, tokenizer = tiny_models.tiny_model("llama", vocab=60_000)           # 60,000 × 64 × 2 rows
    big.save_pretrained(root / "big")
    tokenizer.save_pretrained(root / "big")
    originals["big parameters"] = sum(t.numel() for t in big.state_dict().values())
    return root, originals


@pytest.fixture
def offered(tiny_folder, monkeypatch, tmp_path):
    """The tiny folder offered by this server (LLM_XRAY_MODELS), with a cache
    folder of its own and 40 MB of memory: {name: Offer} of the folder's models."""
    from llm_core.model import caches, registry

    root, _ = tiny_folder
    monkeypatch.setenv("LLM_XRAY_MODELS", str(root))
    monkeypatch.setenv("LLM_XRAY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LLM_XRAY_MEMORY_MB", "40")   # the tiny ones fit, "big" does not
    caches.FOLDER_SCANS.clear()
    yield {o.name: o for o in registry.offered_models() if o.source != "embedded"}
    for name in list(registry._LOADED):
        if name not in registry.EMBEDDED:
            registry._LOADED.pop(name)
    caches.FOLDER_SCANS.clear()
