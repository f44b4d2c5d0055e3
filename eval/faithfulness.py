"""Faithfulness without a judge model: is each answer sentence supported by the passages it rests on?

A sentence is supported by a passage when every number it states is in the
passage, and enough of its content words (stemmed) appear in the passage
(lexical support) or it is close in meaning to the passage or one of its
sentences (embedding support). The two thresholds are
calibrated on hand-labelled pairs (``samples/faithfulness_labels.jsonl``,
``bench/calibrate_faithfulness.py``) and live in ``[eval]`` of the config.

Lines too short to carry a claim ("Verdict: No.", "Clauses: none") are not
checked: fewer than ``MIN_CONTENT_WORDS`` content words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from assistant.core.near_duplicates import content_words
from assistant.core.prompts import CITATION, cited_numbers
from eval.metrics import sentences

MIN_CONTENT_WORDS = 3
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_LEAD = re.compile(r"^\s*(\d+\.|[-*]|[A-Z][a-z]+:)\s*")  # a step number, bullet or label such as "Verdict:"

Embed = Callable[[list[str]], np.ndarray]
Supports = Callable[[str, Sequence[str]], bool | None]  # (sentence, passages) → verdict, None when unsure


def claim(sentence: str) -> str:
    """The sentence without citation markers, step numbers or a leading label."""
    return _LEAD.sub("", CITATION.sub("", sentence)).strip()


def lexical_support(sentence: str, passage: str) -> float:
    """Share of the sentence's content words whose stem occurs in the passage ("reimbursed" ~ "reimburse")."""
    wanted = _stems(claim(sentence))
    return len(wanted & _stems(passage)) / len(wanted) if wanted else 0.0


def numbers_match(sentence: str, passage: str) -> bool:
    """Every number the sentence states is in the passage: a changed figure is never supported."""
    return set(_NUMBER.findall(claim(sentence))) <= set(_NUMBER.findall(passage))


def _stems(text: str) -> frozenset[str]:
    return frozenset(_stemmer().stem(word) for word in content_words(text))


@cache
def _stemmer() -> Any:
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


class SupportChecker:
    """Scores answers against passages; embeddings are cached, since the arms share passages."""

    def __init__(self, embed: Embed, lexical_threshold: float, embedding_threshold: float) -> None:
        self.embed = embed
        self.lexical_threshold = lexical_threshold
        self.embedding_threshold = embedding_threshold
        self._cache: dict[tuple[str, bool], np.ndarray] = {}

    def embedding_support(self, sentence: str, passage: str) -> float:
        """Highest cosine between the sentence and the passage or any sentence of it."""
        vector = self._vectors(claim(sentence), whole_only=True)[0]
        return float(np.max(self._vectors(passage) @ vector))

    def supported(self, sentence: str, passages: Sequence[str]) -> bool:
        return any(
            numbers_match(sentence, p)
            and (
                lexical_support(sentence, p) >= self.lexical_threshold
                or self.embedding_support(sentence, p) >= self.embedding_threshold
            )
            for p in passages
        )

    def faithfulness(self, answer: str, passages: Sequence[str], *, given: bool = True) -> float | None:
        return faithfulness(answer, passages, self.supported, given=given)

    def similarity(self, text: str, other: str) -> float:
        """Cosine between two whole texts' embeddings."""
        return float(self._vectors(text, whole_only=True)[0] @ self._vectors(other, whole_only=True)[0])

    def _vectors(self, text: str, whole_only: bool = False) -> np.ndarray:
        """Rows: the text, then (unless ``whole_only``) each of its sentences."""
        key = (text, whole_only)
        if key not in self._cache:
            self._cache[key] = self.embed([text] if whole_only else [text, *sentences(text)])
        return self._cache[key]


def faithfulness(answer: str, passages: Sequence[str], supported: Supports, *, given: bool = True) -> float | None:
    """Share of checkable sentences supported by the passages they cite ([n] → ``passages[n-1]``);
    a sentence citing none is checked against every passage. With ``given`` false the model never saw
    the passages, so its markers mean nothing and every sentence is checked against all of them.
    None: nothing to check, or no verdict."""
    checked = [s for s in sentences(answer) if len(content_words(claim(s))) >= MIN_CONTENT_WORDS]
    if not checked or not passages:
        return None
    verdicts = [supported(s, (_cited(s, passages) if given else []) or passages) for s in checked]
    known = [v for v in verdicts if v is not None]
    return sum(known) / len(known) if known else None


def _cited(sentence: str, passages: Sequence[str]) -> list[str]:
    return [passages[n - 1] for n in sorted(cited_numbers(sentence)) if 1 <= n <= len(passages)]
