"""The prompt contract in a transformers tokenizer's tokens, for the hf backend and training alike.

With a chat template, the text is what ``apply_chat_template`` renders (its
markers parsed as control tokens, BOS placed by the template), and the answer a
model learns is what the template adds for the assistant's turn, its end-of-turn
marker included. Without one, the raw format after BOS, and the answer then EOS.
"""

from __future__ import annotations

from typing import Any

from assistant.core.errors import UserError
from assistant.core.prompts import Prompt


def prompt_ids(tokenizer: Any, prompt: Prompt) -> list[int]:
    """The prompt's tokens, up to where the model's answer begins."""
    if not tokenizer.chat_template:
        return list(tokenizer(prompt.text)["input_ids"])
    return _chat_ids(tokenizer, prompt, None)


def answer_ids(tokenizer: Any, prompt: Prompt, answer: str) -> list[int]:
    """The tokens a model should generate after ``prompt_ids(tokenizer, prompt)`` to give ``answer``."""
    if not tokenizer.chat_template:
        return [*tokenizer(f" {answer.strip()}", add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    context = _chat_ids(tokenizer, prompt, None)
    whole = _chat_ids(tokenizer, prompt, answer.strip())
    if whole[: len(context)] != context:
        raise UserError("the chat template renders a conversation's start differently once it has an answer")
    return whole[len(context) :]


def _chat_ids(tokenizer: Any, prompt: Prompt, answer: str | None) -> list[int]:
    """Rendered with the instructions as a system turn, or folded into the user turn where the template
    refuses one (its ``raise_exception``)."""
    from jinja2 import TemplateError

    def render(system_turn: bool) -> str:
        messages = prompt.messages(system_turn=system_turn)
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None))

    try:
        text = render(system_turn=True)
    except TemplateError:
        text = render(system_turn=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
