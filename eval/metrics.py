"""Per-answer metrics that need no model: retrieval, citations, correctness, format and refusal.

Each function scores one question; ``None`` means the metric does not apply
(e.g. citation precision of an answer that cites nothing), and such questions
are left out of that metric's mean rather than counted as zero.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

from assistant.core.prompts import CITATION, cited_numbers

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_LIST_MARKER = re.compile(r"^\s*(\d+[.)]|[-*])\s+")
_WORD = re.compile(r"[a-z0-9]+")
# Refusals in any of the forms the product writes: the grader's, and the sample domains' trained ones.
_REFUSAL = re.compile(r"\b(do(es)? not|don't|doesn't) (cover|address)\b|\bnot covered\b", re.IGNORECASE)


def retrieval_scores(ranked_sources: Sequence[str], gold_sources: Sequence[str]) -> dict[str, float]:
    """hit@k (a gold document among the passages), MRR (1/rank of the first), recall (share of gold found)."""
    gold = set(gold_sources)
    ranks = [rank for rank, source in enumerate(ranked_sources, start=1) if source in gold]
    return {
        "hit_at_k": float(bool(ranks)),
        "mrr": 1.0 / ranks[0] if ranks else 0.0,
        "recall": len(gold & set(ranked_sources)) / len(gold),
    }


def sentences(answer: str) -> list[str]:
    """Answer sentences and lines. A step number ("2. Open ...") stays with its step, and a citation
    standing after the full stop stays with its sentence."""
    pieces = []
    for line in answer.splitlines():
        marker = _LIST_MARKER.match(line)
        prefix = marker.group(0) if marker else ""
        parts = _SENTENCE_END.split(line[len(prefix) :])
        pieces += [prefix + parts[0], *parts[1:]]
    merged: list[str] = []
    for piece in (p.strip() for p in pieces):
        if not piece:
            continue
        if merged and not CITATION.sub("", piece).strip(" .;,"):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def citation_scores(raw_answer: str, given_sources: Sequence[str], gold_sources: Sequence[str]) -> dict[str, float]:
    """validity: share of cited numbers that name a passage given; precision: share of the validly cited
    passages that come from a gold document; coverage: share of sentences carrying a valid citation.
    Validity is scored on the answer as generated, before invalid markers were removed."""
    numbers = cited_numbers(raw_answer)
    valid = [n for n in numbers if 1 <= n <= len(given_sources)]
    scores: dict[str, float] = {}
    if numbers:
        scores["citation_validity"] = len(valid) / len(numbers)
    if valid and gold_sources:
        scores["citation_precision"] = sum(given_sources[n - 1] in gold_sources for n in valid) / len(valid)
    parts = sentences(raw_answer)
    if parts:
        carrying = [p for p in parts if any(1 <= n <= len(given_sources) for n in cited_numbers(p))]
        scores["citation_coverage"] = len(carrying) / len(parts)
    return scores


def words(text: str) -> list[str]:
    """Lowercased word tokens without citation markers, as SQuAD normalises answers (articles dropped)."""
    return [w for w in _WORD.findall(CITATION.sub(" ", text).lower()) if w not in {"a", "an", "the"}]


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of word precision and recall against the reference (SQuAD's F1)."""
    predicted, expected = words(prediction), words(reference)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence, Porter-stemmed), citation markers removed."""
    return float(_rouge_scorer().score(reference, CITATION.sub(" ", prediction))["rougeL"].fmeasure)


@cache
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def is_refusal(answer: str) -> bool:
    """The answer says the documents don't cover the question."""
    return bool(_REFUSAL.search(answer))


def format_compliance(answer: str, pattern: str) -> float:
    """1 when the whole answer matches the domain's ``answer_format`` regular expression."""
    return float(re.fullmatch(pattern, answer.strip(), re.DOTALL) is not None)
