"""The arms of an eval run, and answering one question in each of them.

Retrieval, routing and grading run once per question, exactly as served; the
RAG arms then answer from the same passages, so every difference between arms
is the adapter's or retrieval's alone (a paired comparison).

    base          the bare question, base model
    rag           the served prompt with the passages, base model
    rag+adapter   the served prompt with the passages, the routed domain's adapter: what `ask` does
    adapter       the bare question, the routed domain's adapter
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.core.prompts import NOT_COVERED, build_closed_book_prompt, build_prompt
from assistant.core.results import RetrieveResult
from eval.metrics import is_refusal

if TYPE_CHECKING:
    from assistant.runtime import Runtime


@dataclass(frozen=True)
class Arm:
    name: str
    retrieval: bool
    adapter: bool


ARMS = {
    arm.name: arm
    for arm in (
        Arm("base", retrieval=False, adapter=False),
        Arm("rag", retrieval=True, adapter=False),
        Arm("rag+adapter", retrieval=True, adapter=True),
        Arm("adapter", retrieval=False, adapter=True),
    )
}


@dataclass(frozen=True)
class ArmAnswer:
    answer: str  # as generated, before invalid citations are removed
    adapter: str | None
    refused: bool  # by the grader (nothing generated) or in the answer's words
    latency_ms: float  # what a user waits: retrieval (RAG arms) and the whole generation
    first_token_ms: float | None
    tokens: int
    tokens_per_s: float | None  # decoding rate after the first token


def answer_in_arm(runtime: Runtime, arm: Arm, found: RetrieveResult, adapter: str | None) -> ArmAnswer:
    """Answer ``found.question`` in ``arm``, from ``found``'s passages when the arm retrieves."""
    used = adapter if arm.adapter else None
    retrieval_ms = found.timings_ms.get("total", 0.0) if arm.retrieval else 0.0
    if arm.retrieval and not found.grade.covered:  # served behaviour: refuse without generating
        return ArmAnswer(NOT_COVERED, used, True, retrieval_ms, None, 0, None)
    prompt = (
        build_prompt(found.question, found.citations) if arm.retrieval else build_closed_book_prompt(found.question)
    )
    from assistant.graph import stream_answer  # here: the arms' names are read by commands that load no graph

    generated = stream_answer(runtime.backend, prompt, used)
    decoding_s = (generated.total_ms - generated.first_token_ms) / 1000
    return ArmAnswer(
        answer=generated.text,
        adapter=used,
        refused=is_refusal(generated.text),
        latency_ms=round(retrieval_ms + generated.total_ms, 1),
        first_token_ms=generated.first_token_ms,
        tokens=generated.pieces,
        tokens_per_s=round((generated.pieces - 1) / decoding_s, 2) if generated.pieces > 1 and decoding_s > 0 else None,
    )
