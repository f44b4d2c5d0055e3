"""The prompt contract, shared by inference and adapter training.

The base model has no chat template, so the format is ours. Passages are
numbered and fenced inside ``<passages>`` as data; the answer follows
``Answer:`` and cites passages as ``[n]``. Training builds its examples with
``build_prompt`` too, so an adapter learns exactly the format it will be served.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.results import Passage

INSTRUCTIONS = (
    "Answer the question using only the numbered passages below. "
    "Cite the passage each fact comes from with its number in brackets, like [1]. "
    "If the passages do not contain the answer, say that the documents do not cover it."
)

# Generation stops where the model starts a new example instead of ending its answer.
STOP_SEQUENCES = ["\nQuestion:", "\nAnswer:", "<passages>", "</passages>", "<end_of_turn>", "\n\n\n"]

_CITATION = re.compile(r"\[(\d{1,2})\]")


def format_passage(n: int, passage: Passage) -> str:
    return f"[{n}] ({passage.source})\n{passage.text.strip()}"


def build_prompt(question: str, passages: Sequence[Passage]) -> str:
    """The full prompt; the model's answer is what comes after it."""
    numbered = "\n\n".join(format_passage(n, p) for n, p in enumerate(passages, start=1))
    return f"{INSTRUCTIONS}\n\n<passages>\n{numbered}\n</passages>\n\nQuestion: {question.strip()}\nAnswer:"


def cited_numbers(answer: str) -> list[int]:
    """Distinct ``[n]`` markers in order of first appearance."""
    seen: dict[int, None] = {}
    for match in _CITATION.finditer(answer):
        seen.setdefault(int(match.group(1)), None)
    return list(seen)
