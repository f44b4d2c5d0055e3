"""The eval-set format: what a question is scored against.

One JSON object per line: ``question``, optional ``domain``, ``gold_sources``
(document names that answer it), ``reference`` (a reference answer) and
``answerable`` (false: the documents don't answer it, so it should be refused).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.core.jsonl import read_jsonl


class EvalItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    domain: str | None = None
    gold_sources: list[str] = []
    reference: str | None = None
    answerable: bool = True

    @model_validator(mode="after")
    def _unanswerable_has_no_gold(self) -> EvalItem:
        if not self.answerable and (self.gold_sources or self.reference):
            raise ValueError("an unanswerable question has no 'gold_sources' or 'reference'")
        return self


def load_eval_set(path: Path) -> list[tuple[int, EvalItem]]:
    return read_jsonl(path, EvalItem, "eval set")


def eval_questions(paths: Sequence[Path]) -> list[str] | None:
    """The questions of these eval sets, which adapter training must not see; None when no set is given."""
    return [item.question for path in paths for _, item in load_eval_set(path)] if paths else None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
