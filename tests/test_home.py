"""The pipeline overview page through AppTest, in both languages."""
from __future__ import annotations

import pytest

from conftest import app_test, assert_clean, shown


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_home_renders_every_stage(lang):
    at = app_test("lessons/home.py", lang=lang)
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 5
    assert any("Paris" in c.value for c in at.code)       # stage ⑤ appends the top token
    if lang == "zh":
        assert "完整流程" in at.title[0].value


def test_home_with_user_text_and_bad_text():
    at = app_test("lessons/home.py")
    at.text_area(key="home.text").input("我有一只小猫").run()
    assert_clean(at)
    assert "我有一只小猫" in at.code[0].value
    at.text_area(key="home.text").input("   ").run()
    assert not at.exception
    assert any("empty" in w.value for w in at.warning)
    assert not at.get("plotly_chart")
    at.text_area(key="home.text").input("x\x00y").run()
    assert not at.exception and any("U+0000" in shown(w.value) for w in at.warning)


def test_home_one_token_and_long_text():
    at = app_test("lessons/home.py")
    at.text_area(key="home.text").input("Hi").run()
    assert_clean(at)
    at.text_area(key="home.text").input("many different words " * 150).run()
    assert_clean(at)
    assert any("the last 40" in c.value for c in at.caption)          # readable figures
    assert any("first 256 of 451" in c.value for c in at.caption)     # attention cap announced
