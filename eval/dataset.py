"""The eval-set format: what a question is scored against.

One JSON object per line: ``question``, optional ``domain``, ``gold_sources``
(document names that answer it) and ``reference`` (a reference answer).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from assistant.jsonl import read_jsonl


class EvalItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    domain: str | None = None
    gold_sources: list[str] = []
    reference: str | None = None


def load_eval_set(path: Path) -> list[tuple[int, EvalItem]]:
    return read_jsonl(path, EvalItem, "eval set")
