"""When two questions are the same question asked twice: the one definition training, eval and the sample-data
script share, so a training question never leaks an eval question under another wording."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

# Two questions this similar (Jaccard of their content words) are the same question asked twice.
NEAR_DUPLICATE_JACCARD = 0.7


@cache
def _stopwords() -> frozenset[str]:
    text = resources.files(__package__).joinpath("stopwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.split() if line and not line.startswith("#"))


def content_words(text: str) -> frozenset[str]:
    """Lowercased words and numbers without function words: what two texts must share to say the same."""
    return frozenset(re.findall(r"[a-z0-9]+", text.lower())) - _stopwords()


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of two texts' content words (0 when either has none)."""
    words_a, words_b = content_words(a), content_words(b)
    return len(words_a & words_b) / len(words_a | words_b) if words_a and words_b else 0.0


def overlapping_questions(questions: list[str], eval_questions: list[str]) -> list[tuple[int, str]]:
    """``(index into questions, eval question)`` for each question that is, or nearly is, an eval question."""
    eval_words = [(content_words(q), q) for q in eval_questions]
    found = []
    for i, question in enumerate(questions):
        words = content_words(question)
        for other, eval_question in eval_words:
            if words and len(words & other) / len(words | other) >= NEAR_DUPLICATE_JACCARD:
                found.append((i, eval_question))
                break
    return found
