"""RAFT-style assembly (Zhang et al. 2024): train on the prompt the assistant will really serve.

An adapter trained on bare question/answer pairs learns to answer without
passages and gets worse once retrieval is added. So every example becomes the
inference prompt itself (``assistant.prompts.build_prompt``): the gold
documents' best passages mixed with distractors retrieved from the same index,
in a seeded random order, and the answer's ``[n]`` renumbered to where each
gold passage landed. An example without ``sources`` teaches the refusal: its
passages are the retrieved ones and its answer cites none.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from adapters.dataset import TrainingExample
from assistant.errors import UserError
from assistant.prompts import build_prompt
from assistant.results import Passage

# (question, how many passages, only from these sources or None) -> ranked passages
Retriever = Callable[[str, int, list[str] | None], list[Passage]]
TokenCounter = Callable[[str], int]

_CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class RaftExample:
    prompt: str
    completion: str  # what the model should generate after the prompt, as it will be served

    @property
    def text(self) -> str:
        return self.prompt + self.completion


def assemble(
    example: TrainingExample,
    retrieve: Retriever,
    *,
    passages: int,
    seed: int,
    max_tokens: int,
    count_tokens: TokenCounter,
) -> RaftExample:
    """The training example as served; distractors are dropped (never the answer) to fit ``max_tokens``."""
    gold = [_gold_passage(example.question, source, retrieve) for source in example.sources]
    wanted = max(passages - len(gold), 0)
    candidates = retrieve(example.question, passages * 3, None)
    distractors = [p for p in candidates if p.source not in example.sources][:wanted]
    completion = " " + example.answer.strip()
    while True:
        ordered = gold + distractors
        random.Random(f"{seed}:{example.question}").shuffle(ordered)
        prompt = build_prompt(example.question, ordered)
        if count_tokens(prompt + completion) <= max_tokens:
            break
        if not distractors:
            raise UserError(
                f"training example {example.question!r} needs more than {max_tokens} tokens with its gold passages "
                "alone: raise training.max_seq_tokens"
            )
        distractors.pop()
    position = {n: ordered.index(passage) + 1 for n, passage in enumerate(gold, start=1)}
    return RaftExample(prompt, _CITATION.sub(lambda m: f"[{position[int(m[1])]}]", completion))


def _gold_passage(question: str, source: str, retrieve: Retriever) -> Passage:
    found = retrieve(question, 1, [source])
    if not found:
        raise UserError(f"training example {question!r} cites {source!r}, which is not a document of the domain")
    return found[0]
