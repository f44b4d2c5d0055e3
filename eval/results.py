"""The shape of ``results.json``: what the reports, ``eval compare`` and the UI read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from eval.stats import Difference, Estimate

RETRIEVAL = "retrieval"  # the summary's key for metrics of the shared retrieval, not of an arm


class ArmResult(BaseModel):
    answer: str
    adapter: str | None
    refused: bool
    scores: dict[str, float]


class QuestionResult(BaseModel):
    line: int  # in the eval set
    question: str
    domain: str | None
    answerable: bool
    reference: str | None
    gold_sources: list[str]
    routed_domain: str | None
    route_confidence: float
    covered: bool
    best_score: float
    retrieved: list[str]  # the passages' documents, best first
    retrieval: dict[str, float]
    arms: dict[str, ArmResult]


def scores_of(questions: Iterable[QuestionResult], arm: str | None, metric: str) -> list[float]:
    """The metric's value on each question that has it: of ``arm``'s answer, or of the retrieval (None)."""
    scores = (q.retrieval if arm is None else q.arms[arm].scores for q in questions)
    return [s[metric] for s in scores if metric in s]


class EvalResults(BaseModel):
    created_at: datetime
    eval_set: str
    eval_set_sha256: str
    arms: list[str]
    setup: dict[str, Any]
    metrics: dict[str, str]  # name → what it measures, in one line
    summary: dict[str, dict[str, Estimate]]  # arm (or RETRIEVAL) → metric → mean with its interval
    by_domain: dict[str, dict[str, dict[str, float]]]  # domain → arm (or RETRIEVAL) → metric → mean
    cost: dict[str, dict[str, float | None]]  # arm → latency percentiles and decoding rate
    differences: list[Difference]
    questions: list[QuestionResult]
