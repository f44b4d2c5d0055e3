"""RAFT-style assembly (Zhang et al. 2024): train on the prompt the assistant will really serve.

An adapter trained on bare question/answer pairs learns to answer without
passages and gets worse once retrieval is added. So every example becomes the
inference prompt itself (``assistant.core.prompts.build_prompt``) over the passages
serving would give it: the question's own top-k, retrieved exactly as served,
in served order, with as many chunks of the gold document as serving lets in.
When retrieval misses the gold passage, it goes in where its score ranks it,
in place of the lowest-ranked other passage. The answer's ``[n]`` is
renumbered to where each gold passage sits. An example without ``sources``
(trained on only with ``training.refusal_examples``) teaches the refusal over its served passages,
which hold no answer.

The first recipe shuffled the gold passage among 3 distractors from other
documents; served prompts hold 5 passages, often several from the gold
document, ranked. The adapter then cited by position and refused answerable
questions (issue 15's figures), so training now sees the served distribution.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from adapters.training.dataset import TrainingExample
from assistant.core.errors import UserError
from assistant.core.prompts import CITATION, Prompt, build_prompt
from assistant.core.results import Passage

# (question, how many passages, only from these sources or None) -> ranked passages
Retriever = Callable[[str, int, list[str] | None], list[Passage]]

_WORD = re.compile(r"[a-z0-9€$£%]+(?:[.,][0-9]+)*")
_GOLD_CANDIDATES = 3  # the gold document's chunks considered for the one the answer rests on


@dataclass(frozen=True)
class RaftExample:
    prompt: Prompt
    answer: str  # what the model should answer to the prompt, its citations numbered as served

    @property
    def text(self) -> str:
        """The example in the raw format."""
        return f"{self.prompt.text} {self.answer}"


def assemble(
    example: TrainingExample,
    retrieve: Retriever,
    *,
    passages: int,
    max_tokens: int,
    count_tokens: Callable[[RaftExample], int],
) -> RaftExample:
    """The training example as served over ``passages`` passages; the lowest-ranked passages that are not
    gold are dropped (never the answer's) to fit ``max_tokens``."""
    ordered = retrieve(example.question, passages, None)
    gold: list[Passage] = []
    for source in example.sources:
        passage = _answer_passage(example, source, ordered, retrieve)
        if passage.chunk_id not in {p.chunk_id for p in ordered}:
            ordered = _ranked_in(ordered, passage, keep=gold, size=passages)
        gold.append(passage)
    while count_tokens(RaftExample(build_prompt(example.question, ordered), example.answer.strip())) > max_tokens:
        others = [p for p in ordered if p not in gold]
        if not others:
            raise UserError(
                f"training example {example.question!r} needs more than {max_tokens} tokens with its gold passages "
                "alone: raise training.max_seq_tokens"
            )
        ordered.remove(others[-1])
    ids = [p.chunk_id for p in ordered]
    position = {n: ids.index(passage.chunk_id) + 1 for n, passage in enumerate(gold, start=1)}
    answer = CITATION.sub(lambda m: f"[{position[int(m[1])]}]", example.answer.strip())
    return RaftExample(build_prompt(example.question, ordered), answer)


def _answer_passage(example: TrainingExample, source: str, served: list[Passage], retrieve: Retriever) -> Passage:
    """The chunk of ``source`` the answer rests on: of its served chunks and its best ones for the question,
    the one sharing most words with the answer (the served one first on a tie)."""
    candidates = [p for p in served if p.source == source]
    served_ids = {p.chunk_id for p in candidates}
    candidates += [p for p in retrieve(example.question, _GOLD_CANDIDATES, [source]) if p.chunk_id not in served_ids]
    if not candidates:
        raise UserError(
            f"training example {example.question!r} cites {source!r}, which is not a document of the domain"
        )
    answer_words = set(_WORD.findall(example.answer.lower()))
    return max(candidates, key=lambda p: len(answer_words & set(_WORD.findall(p.text.lower()))))


def _ranked_in(ordered: list[Passage], passage: Passage, *, keep: list[Passage], size: int) -> list[Passage]:
    """``passage`` inserted where its score ranks it, the lowest-ranked passage not in ``keep`` making room."""
    at = next((i for i, p in enumerate(ordered) if p.score < passage.score), len(ordered))
    ranked = [*ordered[:at], passage, *ordered[at:]]
    while len(ranked) > size:
        ranked.remove(next(p for p in reversed(ranked) if p is not passage and p not in keep))
    return ranked
