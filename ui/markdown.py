"""User text and model tokens inside st.markdown / st.caption stay plain text."""
from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def md_escape(text: str) -> str:
    """Backslash every markdown, HTML and LaTeX character: never a link, an image,
    a formula or markup."""
    return _SPECIAL.sub(r"\\\1", str(text))
