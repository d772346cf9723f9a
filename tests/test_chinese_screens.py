"""A Chinese student reads characters, never byte codes: every page that takes a
text, opened in Chinese with a Chinese example, shows no "‹" in its visible text
or in its figures' labels. The one place bytes show is where they are the lesson:
the tokens page's byte view (its chips' hover, not checked here)."""
from __future__ import annotations

import json
import re

import pytest

from harness.apptest import app_test, assert_clean, figures, rendered

CAT = "我有一只小猫，它喜欢"
# page → the state that puts the Chinese example in its text boxes
EXAMPLES = {
    "pipeline": {"pipeline.text": CAT},
    "attention": {"attention.text": CAT},
    "attention_step": {"attention_step.text": CAT},
    "block": {"block.text": CAT},
    "next_token": {"next_token.prompt": CAT},
    "logit_lens": {"logit_lens.text": CAT},
    "positions": {},                           # its Chinese defaults: 我喜欢你 / 你喜欢我, 我有一只小猫
    "context": {"context.text_a": "我今天吃了一个苹果。", "context.text_b": "苹果公司发布了新手机。",
                "context.word": "苹果"},
}

# what a figure shows as text: names, categories, cell texts, titles, annotations
_LABEL_KEYS = {"name", "text", "x", "y", "ticktext", "title", "texttemplate", "labels"}


def _figure_strings(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("hovertemplate", "hovertext", "customdata"):
                continue          # shown on hover only
            yield from _figure_strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _figure_strings(v, key)
    elif isinstance(node, str) and key in _LABEL_KEYS:
        yield node


def visible_strings(at) -> list[str]:
    shown = rendered(at)
    for group in ("caption", "code", "metric", "info", "success", "warning", "subheader", "header",
                  "title"):
        for el in at.get(group):
            shown.append(json.dumps(getattr(el, "value", "") or getattr(el, "label", ""),
                                    ensure_ascii=False))
            shown.append(str(getattr(el, "label", "")))
    for el in at.get("dataframe"):
        shown.append(el.value.to_string())
    for fig in figures(at):
        shown.extend(_figure_strings(fig))
    return shown


@pytest.mark.app
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_a_chinese_example_reads_as_characters(name):
    at = app_test(f"pages/{name}.py", lang="zh", state=EXAMPLES[name], timeout=240)
    assert_clean(at)
    texts = visible_strings(at)
    # the example's split characters are on the page, read as characters (欢[3/3])
    assert any(re.search(r"[\u4e00-\u9fff]\[\d/\d\]", x) for x in texts)
    assert figures(at), "the page drew its figures"
    bytes_shown = [x for x in texts if "‹" in x]
    assert not bytes_shown, bytes_shown[:5]


def test_a_label_that_draws_nothing_names_its_code_point_and_keeps_its_part():
    """An emoji's variation selector (U+FE0F) split over tokens: its pieces must
    read as something, with their part, never as an empty-looking "[1/3]"."""
    from ui.fig_common import visible
    assert visible("\ufe0f[1/3]") == "U+FE0F[1/3]"
    assert visible("\u200d") == "U+200D"
    assert visible("语[1/3]") == "语[1/3]" and visible(" cat") == "␣cat" and visible("") == "∅"


def test_a_legend_title_beside_a_figure_is_no_wider_than_its_entries():
    """The positions figure's legend title ran off the figure's right edge (and off
    its exported PNG): it wraps to the width of its entries, in both languages."""
    from types import SimpleNamespace
    from ui.fig_common import _columns
    from ui.fig_positions import LEGEND_COLUMNS, order_cosines
    from ui.i18n import table
    matched = [SimpleNamespace(pos_a=0, pos_b=8, cosine_by_layer=[1.0, 0.5])]
    for lang in ("en", "zh"):
        title = table(lang)["positions.legend"]
        fig = order_cosines(matched, ["我[1/2]"], {"x": "x", "y": "y", "legend": title})
        lines = fig.layout.legend.title.text.split("<br>")
        assert len(lines) > 1 and max(_columns(line) for line in lines) <= LEGEND_COLUMNS
        assert "".join(lines).replace(" ", "") == title.replace(" ", "")
