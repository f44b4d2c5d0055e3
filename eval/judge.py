"""The optional LLM judge of faithfulness, through any configured backend.

Small local judges are why RAGAS-style tools return NaN: they wander off the
JSON. Here the verdict is constrained by a grammar derived from a JSON schema
(llama.cpp, in-process or as a server), parsed strictly, and asked once more
when it still does not parse; a sentence without a verdict is left out of the
mean, never counted as a pass or a fail.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache

from assistant.backends import Backend
from assistant.core.prompts import Prompt, as_data
from eval.faithfulness import faithfulness

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"supported": {"type": "boolean"}},
    "required": ["supported"],
    "additionalProperties": False,
}
ATTEMPTS = 2
_QUESTION = (
    "Does the passage state everything the claim says? "
    'Reply with JSON only: {"supported": true} or {"supported": false}.'
)


@cache
def verdict_grammar() -> str:
    """GBNF for ``VERDICT_SCHEMA``, by llama.cpp's own schema converter."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return str(json_schema_to_gbnf(json.dumps(VERDICT_SCHEMA)))


def judge_prompt(claim: str, passages: Sequence[str]) -> Prompt:
    joined = "\n\n".join(as_data(p) for p in passages)
    return Prompt("", f"<passages>\n{joined}\n</passages>\n\nClaim: {as_data(claim)}\n\n{_QUESTION}", cue="JSON:")


def parse_verdict(text: str) -> bool | None:
    """The ``supported`` flag of a reply that is exactly the schema's object; None for anything else."""
    try:
        reply = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(reply, dict) and set(reply) == {"supported"} and isinstance(reply["supported"], bool):
        return reply["supported"]
    return None


class Judge:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.replies = 0
        self.unparsed = 0  # replies that were not a verdict, even after the retry

    def supported(self, sentence: str, passages: Sequence[str]) -> bool | None:
        prompt = judge_prompt(sentence, passages)
        for attempt in range(ATTEMPTS):
            reply = "".join(self.backend.stream(prompt, None, verdict_grammar()))
            self.replies += 1
            verdict = parse_verdict(reply.strip())
            if verdict is not None:
                return verdict
            if attempt == 0:
                retry = f"{prompt.request}\nJSON: {reply.strip()}\nThat was not the JSON asked for. {_QUESTION}"
                prompt = Prompt("", retry, cue="JSON:")
        self.unparsed += 1
        return None

    def faithfulness(self, answer: str, passages: Sequence[str], *, given: bool = True) -> float | None:
        return faithfulness(answer, passages, self.supported, given=given)
