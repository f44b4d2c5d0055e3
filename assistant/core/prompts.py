"""The prompt contract, shared by inference and adapter training.

The base model has no chat template, so the format is ours. Passages are
numbered and fenced inside ``<passages>`` as data; the answer follows
``Answer:`` and cites passages as ``[n]``. Training builds its examples with
``build_prompt`` too, so an adapter learns exactly the format it will be served.

Passage text is data: it cannot close the fence or start a turn of its own,
so a planted "ignore previous instructions" stays a quote inside the passages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from assistant.core.results import Passage

INSTRUCTIONS = (
    "Answer the question using only the numbered passages below. "
    "Cite the passage each fact comes from with its number in brackets, like [1]. "
    "If the passages do not contain the answer, say that the documents do not cover it."
)

# The eval harness's arms without retrieval ask the bare question: what the model knows by itself.
CLOSED_BOOK_INSTRUCTIONS = "Answer the question."

# What the graph answers, without generating, when no passage is close enough to the question.
NOT_COVERED = "The documents do not cover this question."

# Generation stops where the model starts a new example instead of ending its answer.
STOP_SEQUENCES = ["\nQuestion:", "\nAnswer:", "<passages>", "</passages>", "<end_of_turn>", "\n\n\n"]

CITATION = re.compile(r"\[(\d{1,2})\]")  # a citation marker [n]; the group is n
_FENCE = re.compile(r"</?passages>|<(?:start|end)_of_turn>", re.IGNORECASE)
_TURN_START = re.compile(r"^[ \t]*(Question|Answer):", re.IGNORECASE | re.MULTILINE)


def as_data(text: str) -> str:
    """Passage text that cannot end the passages block or open a question/answer turn of its own."""
    text = _FENCE.sub(lambda m: m.group(0).strip("<>").replace("/", "end "), text)
    return _TURN_START.sub(lambda m: f"  ({m.group(1)})", text).strip()


def format_passage(n: int, passage: Passage) -> str:
    return f"[{n}] ({passage.source})\n{as_data(passage.text)}"


def build_prompt(question: str, passages: Sequence[Passage]) -> str:
    """The full prompt; the model's answer is what comes after it."""
    numbered = "\n\n".join(format_passage(n, p) for n, p in enumerate(passages, start=1))
    return f"{INSTRUCTIONS}\n\n<passages>\n{numbered}\n</passages>\n\nQuestion: {question.strip()}\nAnswer:"


def build_closed_book_prompt(question: str) -> str:
    """The prompt without passages, for measuring what retrieval adds (``eval``'s ``base`` and ``adapter`` arms)."""
    return f"{CLOSED_BOOK_INSTRUCTIONS}\n\nQuestion: {question.strip()}\nAnswer:"


def cited_numbers(answer: str) -> list[int]:
    """Distinct ``[n]`` markers in order of first appearance."""
    seen: dict[int, None] = {}
    for match in CITATION.finditer(answer):
        seen.setdefault(int(match.group(1)), None)
    return list(seen)


def drop_citations(answer: str, keep: Callable[[int], bool]) -> tuple[str, int]:
    """The answer without the ``[n]`` markers ``keep`` rejects, and how many were removed."""
    dropped = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal dropped
        if keep(int(match.group(1))):
            return match.group(0)
        dropped += 1
        return ""

    cleaned = CITATION.sub(replace, answer)
    return (re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip(), dropped)
