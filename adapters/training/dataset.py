"""Adapter training data: validation, the train/held-out split, and the leakage check.

A line is ``{"question", "answer", "sources"?, "domain"?}`` or
``{"messages": [{"role", "content"}, ...]}`` (one user turn and the assistant's
reply, optionally after a system turn). ``[n]`` in an answer cites
``sources[n-1]``; RAFT assembly renumbers it to where that document's passage
lands in the prompt.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.registry import TRAINING_QUESTIONS_FILE, AdapterVersion
from assistant.core.errors import UserError
from assistant.core.jsonl import read_jsonl
from assistant.core.near_duplicates import overlapping_questions
from assistant.core.prompts import cited_numbers

MIN_EXAMPLES = 5


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class TrainingExample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    sources: list[str] = []
    domain: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_messages(cls, data: Any) -> Any:
        """The chat form becomes the plain form: the system turn is dropped, our prompt replaces it."""
        if not isinstance(data, dict) or "messages" not in data:
            return data
        turns = [Message.model_validate(m) for m in data["messages"] if not _is_system(m)]
        if [t.role for t in turns] != ["user", "assistant"]:
            raise ValueError("'messages' must be one user turn then one assistant turn (after an optional system)")
        rest = {k: v for k, v in data.items() if k != "messages"}
        return {**rest, "question": turns[0].content, "answer": turns[1].content}

    @model_validator(mode="after")
    def _citations_resolve(self) -> TrainingExample:
        beyond = [n for n in cited_numbers(self.answer) if not 1 <= n <= len(self.sources)]
        if beyond:
            raise ValueError(f"answer cites [{beyond[0]}] but 'sources' lists {len(self.sources)} document(s)")
        return self


def _is_system(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") == "system"


@dataclass(frozen=True)
class TrainingSet:
    train: list[TrainingExample]
    held_out: list[TrainingExample]
    sha256: str

    @property
    def size(self) -> int:
        return len(self.train) + len(self.held_out)

    def without_refusals(self) -> TrainingSet:
        """Only the grounded examples, on the same sides of the split; ``sha256`` still names the whole file."""
        grounded = [e for e in self.train if e.sources], [e for e in self.held_out if e.sources]
        return replace(self, train=grounded[0], held_out=grounded[1])


def load_training_set(
    path: Path, domain: str, *, held_out_fraction: float, seed: int, eval_questions: list[str]
) -> TrainingSet:
    """Validated examples of ``domain``, none of them an eval question, split reproducibly."""
    lines = read_jsonl(path, TrainingExample, "training data")
    others = [f"line {n}: '{e.domain}'" for n, e in lines if e.domain not in (None, domain)]
    if others:
        raise UserError(
            f"{path}: {len(others)} example(s) belong to another domain than '{domain}' ({', '.join(others[:3])}…)"
        )
    leaks = overlapping_questions([e.question for _, e in lines], eval_questions)
    if leaks:
        listed = "\n  ".join(f"line {lines[i][0]}: {lines[i][1].question!r} ~ eval {q!r}" for i, q in leaks[:10])
        raise UserError(f"{path}: {len(leaks)} question(s) are, or nearly are, eval questions:\n  {listed}")
    examples = [example for _, example in lines]
    if len(examples) < MIN_EXAMPLES:
        raise UserError(f"{path} has {len(examples)} examples; at least {MIN_EXAMPLES} are needed")
    train, held_out = _split_by_answer(examples, held_out_fraction, seed)
    return TrainingSet(train=train, held_out=held_out, sha256=_examples_sha256(examples))


def _split_by_answer(
    examples: list[TrainingExample], held_out_fraction: float, seed: int
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """Paraphrases of one question share a grounded answer: they land on the same side, so the held-out
    loss measures answering new questions, not recalling a reworded one. Refusals share one wording
    without being paraphrases, so each is its own group."""
    groups: dict[str, list[TrainingExample]] = {}
    for example in examples:
        key = " ".join(example.answer.split()) if example.sources else f"refusal: {example.question}"
        groups.setdefault(key, []).append(example)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    if len(order) < 2:
        raise UserError("all training examples have the same answer: nothing can be held out to measure learning")
    wanted = max(1, round(len(examples) * held_out_fraction))
    held_out: list[TrainingExample] = []
    train: list[TrainingExample] = []
    for i, answer in enumerate(order):
        side = held_out if len(held_out) < wanted and i < len(order) - 1 else train
        side.extend(groups[answer])
    return train, held_out


def _examples_sha256(examples: list[TrainingExample]) -> str:
    """The content, not the file's bytes: reformatting the JSONL leaves the hash unchanged."""
    canonical = "\n".join(json.dumps(e.model_dump(exclude={"domain"}), sort_keys=True) for e in examples)
    return hashlib.sha256(canonical.encode()).hexdigest()


def trained_questions(adapter: AdapterVersion) -> list[str]:
    """The questions an adapter was trained on (held-out ones included), to keep them out of eval sets."""
    stored = adapter.path / TRAINING_QUESTIONS_FILE
    if stored.is_file():
        return list(json.loads(stored.read_text(encoding="utf-8")))
    # Adapters trained before the questions were stored with them: the data file on the card, if unchanged.
    path = Path(adapter.card.dataset.path)
    if not path.is_file():
        raise UserError(f"cannot check what {adapter.name} was trained on: its training data {path} is gone")
    examples = [example for _, example in read_jsonl(path, TrainingExample, "training data")]
    if _examples_sha256(examples) != adapter.card.dataset.sha256:
        raise UserError(f"cannot check what {adapter.name} was trained on: {path} changed since it was trained")
    return [example.question for example in examples]
