"""Every page, opened by its own link, runs inside the app: the shared sidebar
(language, model), its title in the link's language, no error.

AppTest resets Streamlit's pages/ flag at every run (app_test.py: "Reset to ensure
st.navigation works correctly"), so each switched-to run below takes the path of
a fresh server's first session: Streamlit's own list of pages/, the page file
alone, until the page's guard (ui/pages.inside_app) hands it to app.py."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from harness.apptest import assert_clean, figures
from ui.fig_common import DRAWN
from ui.i18n import LANG_KEY
from ui.models import MODEL_KEY
from ui.pages import PAGES

ROOT = Path(__file__).resolve().parent.parent
NAMES = [name for _, name, _ in PAGES]


def _nav(lang: str) -> dict:
    with open(ROOT / "ui" / "locales" / lang / "nav.toml", "rb") as fh:
        return tomllib.load(fh)


def _title(name: str, lang: str) -> str:
    if name == "pipeline":   # the front page has a title of its own
        with open(ROOT / "ui" / "locales" / lang / "pipeline.toml", "rb") as fh:
            return tomllib.load(fh)["title"]
    return _nav(lang)[name]


@pytest.mark.app
@pytest.mark.parametrize("name,lang", [(n, lang) for n in NAMES for lang in ("zh", "en")])
def test_a_link_to_the_page_opens_it_inside_the_app(name, lang):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    if lang == "zh":
        at.query_params["lang"] = "zh"
    at.run()
    at.switch_page(f"pages/{name}.py").run()
    assert_clean(at)
    assert at.session_state[LANG_KEY] == lang
    assert [r.key for r in at.sidebar.radio][:1] == [LANG_KEY]      # the shared sidebar ran
    assert at.sidebar.selectbox(key="sidebar.model_choice").value == at.session_state[MODEL_KEY]
    assert _title(name, lang) in at.title[0].value
    # Each chart carries Streamlit's chart theme, less its parts for the trace types
    # no page draws (ui/fig_common.app_template): it draws only those types (every
    # chart of every test is checked too: ui/export.chart under LLM_XRAY_CHECK_FIGURES).
    import plotly.io as pio
    theme = pio.templates["streamlit"].to_plotly_json()
    for spec in figures(at):
        kinds = {trace.get("type", "scatter") for trace in spec["data"]}
        assert kinds <= DRAWN, (name, kinds - DRAWN)
        template = spec["layout"]["template"]
        assert template["layout"] == theme["layout"]
        assert template["data"] == {k: v for k, v in theme["data"].items() if k in DRAWN}


@pytest.mark.app
def test_a_page_change_keeps_what_the_student_typed_over_the_example():
    """The example picker fills its boxes on a first visit only: back from another
    page (where Streamlit forgot the picker's own state), the typed question stays."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("pages/hallucination.py").run()
    assert at.text_area(key="hallucination.question").value.startswith("What is the capital")
    at.text_area(key="hallucination.question").input("Who wrote Hamlet?").run()
    at.switch_page("pages/tokens.py").run()
    at.run()                                     # a second run there: the picker's state is gone
    at.switch_page("pages/hallucination.py").run()
    assert_clean(at)
    assert at.text_area(key="hallucination.question").value == "Who wrote Hamlet?"


# Every page on the server's own models (tiny random ones, offered through
# LLM_XRAY_MODELS): the llama family (RoPE, RMSNorm, grouped heads) and GPT-2
# (learned positions, LayerNorm) on every page, the others on the main ones.
BUTTON_FIRST = {"classroom", "generate", "hallucination", "finetune", "distillation"}
ON_TINY = ([(family, n) for family in ("llama", "gpt2") for n in NAMES]
           + [(family, n) for family in ("qwen2", "mistral", "tiny-gguf")
              for n in ("pipeline", "attention", "next_token", "generate", "logit_lens")])


@pytest.mark.app
@pytest.mark.parametrize("model,name", ON_TINY, ids=[f"{m}-{n}" for m, n in ON_TINY])
def test_every_page_runs_on_the_servers_own_model(offered, model, name):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["model"] = model
    at.run()
    at.switch_page(f"pages/{name}.py").run()
    assert_clean(at)
    assert at.session_state[MODEL_KEY] == model
    assert at.sidebar.selectbox(key="sidebar.model_choice").value == model
    if name not in BUTTON_FIRST:          # the page drew its lesson for this model
        assert at.get("plotly_chart"), name
    # The models this server cannot offer are listed with their reasons.
    assert [e.label for e in at.sidebar.expander if "cannot offer" in e.label] == [
        "Models this server cannot offer (6)"]


# A Chinese class whose model speaks Chinese opens on Chinese examples. The tiny
# random llama does not (its measured score is ~0): the bar is lowered to it, so
# the test is the switch, not the measurement (tests/test_tiny.py measures).
NATIVE = {"next_token": ("next_token.prompt", "法国的首都是"),
          "attention": ("attention.text", "小猫没有跳上桌子，因为它太累了。"),
          "generate": ("generate.prompt_plain", "从前，在一个小村庄里，"),
          "pipeline": ("pipeline.text", "我有一只小猫，它喜欢"),
          "hallucination": ("hallucination.question", "维尔特拉维亚共和国的首都是哪里？")}


@pytest.mark.app
@pytest.mark.parametrize("name", list(NATIVE))
@pytest.mark.parametrize("speaks", [True, False])
def test_a_chinese_class_gets_chinese_examples_when_its_model_speaks_chinese(
        offered, monkeypatch, name, speaks):
    from llm_core.model import languages, registry

    registry.load_model("llama")                           # loaded (and measured) before the page
    monkeypatch.setattr(languages, "SPEAKS_CHINESE", -1.0 if speaks else 2.0)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["model"] = "llama"
    at.query_params["lang"] = "zh"
    at.run()
    at.switch_page(f"pages/{name}.py").run()
    assert_clean(at)
    key, chinese = NATIVE[name]
    box = next(w for w in list(at.text_area) + list(at.text_input) if w.key == key)
    assert (box.value == chinese) == speaks, box.value
