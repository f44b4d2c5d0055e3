"""Pick the domain for a question on the same evidence retrieval gives: each domain's best passages.

Every visible domain is searched as served (vector + BM25), and a domain
scores by its single best passage, not the mean of several, since one exact
passage is what answers a question. A passage's evidence is its cosine
similarity plus ``lexical_weight`` times the share of the question's words it
contains: word overlap is comparable across domains where BM25 scores are not,
and it separates "password length" in a password policy from "password" in a
Wi-Fi guide, which embeddings blur. A domain's description or example questions
in config can only raise its score. A softmax over the scores is the
confidence; below ``min_confidence`` no single domain is chosen and the
question is searched in all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from assistant.core.config import RoutingSettings
from assistant.core.results import Passage, Route
from ingest.lexical import tokenize

Hint = tuple[str, float]
"""A domain's description or example question from config, and its cosine similarity to the question."""


def route_by_evidence(
    question: str,
    candidates: Mapping[str, Sequence[Passage]],
    settings: RoutingSettings,
    hints: Mapping[str, Sequence[Hint]],
) -> Route:
    """The domain whose passages (or hints) support the question best, with a confidence and the reason."""
    if not candidates:
        return Route(domain=None, confidence=0.0, reason="no domain to search")
    words = set(tokenize([question])[0])
    scored = {d: _domain_score(words, passages, settings, hints.get(d, ())) for d, passages in candidates.items()}
    ranked = sorted(scored.items(), key=lambda item: item[1][0], reverse=True)
    best, (best_score, why) = ranked[0]
    if len(ranked) == 1:
        return Route(domain=best, confidence=1.0, reason=f"the only domain ({why} {best_score:.2f})")
    peak = best_score / settings.temperature
    weights = {d: math.exp(s / settings.temperature - peak) for d, (s, _) in ranked}
    confidence = round(weights[best] / sum(weights.values()), 3)
    runner_up, (runner_score, _) = ranked[1]
    versus = f"{best_score:.2f} vs {runner_score:.2f} for {runner_up!r}"
    if confidence < settings.min_confidence:
        return Route(
            domain=None,
            confidence=confidence,
            reason=f"no clear domain ({best!r} {versus}): searching all {len(ranked)} domains",
        )
    return Route(domain=best, confidence=confidence, reason=f"{why} best ({versus})")


def evidence(words: set[str], text: str, cosine: float, lexical_weight: float) -> float:
    """Cosine similarity, plus the weighted share of the question's words that the text contains."""
    if not words:
        return cosine
    return cosine + lexical_weight * len(words & set(tokenize([text])[0])) / len(words)


def _domain_score(
    words: set[str], passages: Sequence[Passage], settings: RoutingSettings, hints: Sequence[Hint]
) -> tuple[float, str]:
    """The domain's score and what earned it."""
    weight = settings.lexical_weight
    score = max((evidence(words, f"{p.title}\n{p.text}", p.score, weight) for p in passages), default=-1.0)
    hint_score = max((evidence(words, text, cosine, weight) for text, cosine in hints), default=-1.0)
    if hint_score > score:
        return hint_score, "its description or example questions match"
    return score, "its passages match"
