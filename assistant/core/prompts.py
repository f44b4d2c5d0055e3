"""The prompt contract, shared by inference and adapter training.

A ``Prompt`` is two parts: the instructions, and the request (the numbered
passages fenced inside ``<passages>`` as data, then the question). Each backend
renders it for its model: through the model's chat template when it has one
(instructions as the system turn, the request as the user turn), else in our
raw completion format, where the answer follows ``Answer:``. Either way the
answer cites passages as ``[n]``. Training renders its examples through the
same functions, so an adapter learns exactly the format it will be served.

Passage text is data: it cannot close the fence or start a turn of its own,
so a planted "ignore previous instructions" stays a quote inside the passages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.core.results import Passage

INSTRUCTIONS = (
    "Answer the question using only the numbered passages below. "
    "Cite the passage each fact comes from with its number in brackets, like [1]. "
    "If the passages do not contain the answer, say that the documents do not cover it."
)

# The eval harness's arms without retrieval ask the bare question: what the model knows by itself.
CLOSED_BOOK_INSTRUCTIONS = "Answer the question."

# What the graph answers, without generating, when no passage is close enough to the question.
NOT_COVERED = "The documents do not cover this question."

# Generation stops where the model starts a new example instead of ending its answer.
STOP_SEQUENCES = ["\nQuestion:", "\nAnswer:", "<passages>", "</passages>", "<end_of_turn>", "\n\n\n"]

CITATION = re.compile(r"\[(\d{1,2})\]")  # a citation marker [n]; the group is n
# Our fence, and the turn and sequence markers of common chat templates, which a backend rendering a template
# parses as control tokens: Gemma's; ChatML's, Llama 3's and Phi's <|...|> (reserved ones numbered); DeepSeek's,
# between full-width bars (U+FF5C); Llama 2's and Mistral's [INST] and <<SYS>>; Mistral's [TOOL_CALLS] and kin;
# <s> and </s>.
_FENCE = re.compile(
    r"</?passages>|<(?:start|end)_of_[a-z]{1,12}>|<[be]os>|</?s>|<unk>"
    r"|<\|[a-z0-9_]{1,40}\|>|<\uff5c[^\uff5c<>\n]{1,40}\uff5c>"
    r"|\[/?(?:INST|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]|<</?SYS>>",
    re.IGNORECASE,
)
_TURN_START = re.compile(r"^[ \t]*(Question|Answer):", re.IGNORECASE | re.MULTILINE)


def as_data(text: str) -> str:
    """Passage text that cannot end the passages block or open a question/answer turn of its own."""
    text = _FENCE.sub(lambda m: m.group(0).strip("<>[]").replace("/", "end "), text)
    return _TURN_START.sub(lambda m: f"  ({m.group(1)})", text).strip()


@dataclass(frozen=True)
class Prompt:
    """What the model is asked, before a backend renders it for its model."""

    instructions: str  # the system turn; may be empty
    request: str  # the user turn
    cue: str = "Answer:"  # ends the raw format, where no template marks the model's turn

    @property
    def text(self) -> str:
        """The raw completion format, for models without a chat template; the answer follows it."""
        return "\n\n".join(part for part in (self.instructions, self.request) if part) + f"\n{self.cue}"

    def messages(self, *, system_turn: bool = True) -> list[dict[str, str]]:
        """The chat form. Without ``system_turn`` (a template that refuses one), the instructions open the
        user turn, as templates that accept a system turn but have no place for it fold it themselves."""
        user = {"role": "user", "content": self.request}
        if not self.instructions:
            return [user]
        if system_turn:
            return [{"role": "system", "content": self.instructions}, user]
        return [{"role": "user", "content": f"{self.instructions}\n\n{self.request}"}]

    def through_template(self, render: Callable[[list[dict[str, str]]], str], refusal: type[Exception]) -> str:
        """The text a chat template's ``render`` makes of the messages: with the instructions as a system turn,
        or in the user turn where the template refuses a system turn (its ``raise_exception`` raises
        ``refusal``). Every backend and training render through this, so all fold alike."""
        try:
            return render(self.messages())
        except refusal:
            return render(self.messages(system_turn=False))


def format_passage(n: int, passage: Passage) -> str:
    return f"[{n}] ({as_data(passage.source)})\n{as_data(passage.text)}"  # a file may be named anything


def build_prompt(question: str, passages: Sequence[Passage]) -> Prompt:
    """The grounded prompt; the model's answer is what comes after it."""
    numbered = "\n\n".join(format_passage(n, p) for n, p in enumerate(passages, start=1))
    return Prompt(INSTRUCTIONS, f"<passages>\n{numbered}\n</passages>\n\nQuestion: {question.strip()}")


def build_closed_book_prompt(question: str) -> Prompt:
    """The prompt without passages, for measuring what retrieval adds (``eval``'s ``base`` and ``adapter`` arms)."""
    return Prompt(CLOSED_BOOK_INSTRUCTIONS, f"Question: {question.strip()}")


def cited_numbers(answer: str) -> list[int]:
    """Distinct ``[n]`` markers in order of first appearance."""
    seen: dict[int, None] = {}
    for match in CITATION.finditer(answer):
        seen.setdefault(int(match.group(1)), None)
    return list(seen)


def drop_citations(answer: str, keep: Callable[[int], bool]) -> tuple[str, int]:
    """The answer without the ``[n]`` markers ``keep`` rejects, and how many were removed."""
    dropped = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal dropped
        if keep(int(match.group(1))):
            return match.group(0)
        dropped += 1
        return ""

    cleaned = CITATION.sub(replace, answer)
    return (re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip(), dropped)
