"""What the embedder and BM25 see of a chunk: its words without markup, led by its document's title and summary.

A chunk from the middle of a man page's option list never says which command
it documents, so it is indexed with the document's title and one-line summary
(contextual retrieval). The passage stored and shown stays the chunk's own text.
The recipe's version is part of every chunk id and manifest key, so a new
recipe re-indexes unchanged files once instead of mixing two kinds of vectors.
"""

from __future__ import annotations

import re

INDEX_RECIPE = "2"

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(?<!\w)\*{1,3}(?=\S)|(?<=\S)\*{1,3}(?!\w)|`")


def indexed_text(text: str, title: str, summary: str) -> str:
    """The chunk as indexed: markup stripped, led by whatever of its document's title and summary it lacks."""
    plain = _EMPHASIS.sub("", _LINK.sub(r"\1", text))
    lead = " — ".join(part for part in (title, summary) if part and part not in plain)
    return f"{lead}\n{plain}" if lead else plain
