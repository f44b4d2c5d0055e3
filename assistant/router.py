"""Pick the domain for a question from the index alone.

Each domain is scored by how well its best passages match the question (the
mean similarity of its top ``top_n`` chunks); a softmax over those scores is
the confidence. No description or hand-written keywords are needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from assistant.config import RoutingSettings
from assistant.results import Route
from ingest.store import Index


def route_by_index(index: Index, query: Sequence[float], domains: Sequence[str], settings: RoutingSettings) -> Route:
    scores = {domain: _domain_score(index, query, domain, settings.top_n) for domain in domains}
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best, best_score = ranked[0]
    if len(ranked) == 1:
        return Route(domain=best, confidence=1.0, reason=f"the only domain in the index (match {best_score:.2f})")
    peak = best_score / settings.temperature
    weights = {d: math.exp(s / settings.temperature - peak) for d, s in ranked}
    confidence = weights[best] / sum(weights.values())
    runner_up, runner_score = ranked[1]
    return Route(
        domain=best,
        confidence=round(confidence, 3),
        reason=f"its passages match best ({best_score:.2f} vs {runner_score:.2f} for {runner_up!r})",
    )


def _domain_score(index: Index, query: Sequence[float], domain: str, top_n: int) -> float:
    passages = index.search(domain, query, top_n)
    return sum(p.score for p in passages) / len(passages) if passages else -1.0
