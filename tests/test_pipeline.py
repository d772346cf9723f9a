"""The pipeline overview page through AppTest, in both languages."""
from __future__ import annotations

import pytest

from harness.apptest import app_test, assert_clean, shown


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_home_renders_every_stage(lang):
    at = app_test("pages/pipeline.py", lang=lang)
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 5
    assert any("Paris" in c.value for c in at.code)       # stage ⑤ appends the top token
    if lang == "zh":
        assert "完整流程" in at.title[0].value


@pytest.mark.app
def test_home_with_user_text_and_bad_text():
    at = app_test("pages/pipeline.py")
    at.text_area(key="pipeline.text").input("我有一只小猫").run()
    assert_clean(at)
    assert "我有一只小猫" in at.code[0].value
    at.text_area(key="pipeline.text").input("   ").run()
    assert not at.exception
    assert any("empty" in w.value for w in at.warning)
    assert not at.get("plotly_chart")
    at.text_area(key="pipeline.text").input("x\x00y").run()
    assert not at.exception and any("U+0000" in shown(w.value) for w in at.warning)


@pytest.mark.app
def test_home_one_token_and_long_text():
    at = app_test("pages/pipeline.py")
    at.text_area(key="pipeline.text").input("Hi").run()
    assert_clean(at)
    at.text_area(key="pipeline.text").input("many different words " * 150).run()
    assert_clean(at)
    assert any("the last 40" in c.value for c in at.caption)          # readable figures
    assert any("first 256 of 451" in c.value for c in at.caption)     # attention cap announced


def test_embedding_colours_match_the_text(decoder):
    """The page says red is positive and blue negative: the top of the scale is red."""
    import re

    from llm_core.pipeline import pipeline
    from ui.fig_pipeline import embedding_heatmap
    trace = decoder.trace("The capital of France is")
    heat = embedding_heatmap(pipeline(decoder, trace), {"title": "", "x_label": "", "y_label": "",
                                                        "value_label": ""}).data[0]
    scale = list(heat.colorscale)
    top, bottom = (scale[0][1], scale[-1][1]) if heat.reversescale else (scale[-1][1], scale[0][1])
    rgb = [tuple(int(v) for v in re.findall(r"\d+", c)[:3]) for c in (top, bottom)]
    assert rgb[0][0] > rgb[0][2] and rgb[1][2] > rgb[1][0], (top, bottom)
