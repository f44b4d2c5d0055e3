"""Rated chat turns as JSONL: the full record, or rows that seed a training set or an eval set.

The seed rows are in the very formats `assistant adapters train --data` and `assistant eval run --set`
read, so a curator edits them rather than converting them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from assistant.core.prompts import CITATION, cited_numbers
from ui.transcripts import StoredTurn


def feedback_record(turn: StoredTurn) -> dict[str, Any]:
    """Everything the user judged: the question, the answer, how it was routed and the passages it cited."""
    result = turn.result
    return {
        "question": result.question,
        "answer": result.answer,
        "rating": turn.rating,
        "domain": result.domain,
        "adapter": result.adapter,
        "refused": result.refused,
        "user": turn.user,
        "thread": turn.thread,
        "turn": turn.position,
        "asked_at": turn.created_at,
        "sources": [c.model_dump(exclude={"chunk_id"}) for c in result.citations],
    }


def training_example(turn: StoredTurn) -> dict[str, Any] | None:
    """A liked, grounded answer as a training example; its ``[n]`` renumbered to index its ``sources``."""
    result = turn.result
    if turn.rating != "up" or result.refused or not result.cited:
        return None
    by_number = {c.n: c.source for c in result.citations}
    order = [n for n in cited_numbers(result.answer) if n in by_number]
    renumbered = {n: i for i, n in enumerate(order, start=1)}
    answer = CITATION.sub(lambda m: f"[{renumbered.get(int(m.group(1)), m.group(1))}]", result.answer)
    return {
        "question": result.question,
        "answer": answer,
        "sources": [by_number[n] for n in order],
        "domain": result.domain,
    }


def eval_item(turn: StoredTurn) -> dict[str, Any]:
    """A rated question as an eval item: a liked answer is the reference and its sources are gold; a liked
    refusal marks the question unanswerable; a disliked answer keeps only the question, for a curator."""
    result = turn.result
    item: dict[str, Any] = {"question": result.question, "domain": result.domain}
    if turn.rating == "up" and result.refused:
        return {**item, "answerable": False}
    if turn.rating == "up":
        item["reference"] = result.answer
        if result.cited:
            item["gold_sources"] = sorted({c.source for c in result.citations})
    return item


def as_jsonl(rows: Iterable[dict[str, Any] | None]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows if row is not None)
