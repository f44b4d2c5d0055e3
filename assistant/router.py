"""Pick the domain for a question from the index, helped by optional per-domain hints.

Each domain is scored by how well its best passages match the question (the
mean similarity of its top ``top_n`` chunks). A domain with a description or
example questions in config also scores by its closest hint, and keeps the
better of the two, so hints can only help a domain they describe. A softmax
over the scores is the confidence; below ``min_confidence`` no single domain
is chosen and the question is searched in all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from assistant.config import RoutingSettings
from assistant.results import Route
from ingest.store import Index


def route_by_index(
    index: Index,
    query: Sequence[float],
    domains: Sequence[str],
    settings: RoutingSettings,
    hints: Mapping[str, np.ndarray | None],
) -> Route:
    if not domains:
        return Route(domain=None, confidence=0.0, reason="no domain to search")
    scored = {domain: _domain_score(index, query, domain, settings.top_n, hints.get(domain)) for domain in domains}
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


def _domain_score(
    index: Index, query: Sequence[float], domain: str, top_n: int, hints: np.ndarray | None
) -> tuple[float, str]:
    """The domain's score and what earned it."""
    passages = index.search(domain, query, top_n)
    score = sum(p.score for p in passages) / len(passages) if passages else -1.0
    if hints is not None and len(hints):
        hint_score = float(np.max(hints @ np.asarray(query)))
        if hint_score > score:
            return hint_score, "its description or example questions match"
    return score, "its passages match"
