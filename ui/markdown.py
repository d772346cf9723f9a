"""User text and model tokens inside st.markdown / st.caption stay plain text."""
from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:@])")
# GitHub-flavoured markdown turns bare addresses into links, and backslashes do
# not stop it ("http\://…" still links): an invisible word joiner does.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|www|mailto)")
_JOINER = "\u2060"


def md_escape(text: str) -> str:
    """Backslash every markdown, HTML and LaTeX character and break bare web and
    mail addresses: never a link, an image, a formula or markup."""
    escaped = _SPECIAL.sub(r"\\\1", str(text))
    return _AUTOLINK.sub(lambda m: m.group(1)[0] + _JOINER + m.group(1)[1:], escaped)


def plain_table(frame):
    """A table for st.table (which wraps long cells but reads them as markdown):
    every text cell escaped, so a typed fact or a model's answer stays text."""
    return frame.map(lambda v: md_escape(v) if isinstance(v, str) else v)
