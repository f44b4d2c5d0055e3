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


def example_ids(tokenizer: Any, prompt: Prompt, answer: str) -> tuple[list[int], list[int]]:
    """``prompt_ids(tokenizer, prompt)``, and the tokens a model should generate after them to give ``answer``."""
    context = prompt_ids(tokenizer, prompt)
    if not tokenizer.chat_template:
        raw_answer = tokenizer(f" {answer.strip()}", add_special_tokens=False)["input_ids"]
        return context, [*raw_answer, tokenizer.eos_token_id]
    whole = _chat_ids(tokenizer, prompt, answer.strip())
    if whole[: len(context)] != context:
        raise UserError("the chat template renders a conversation's start differently once it has an answer")
    return context, whole[len(context) :]


def _chat_ids(tokenizer: Any, prompt: Prompt, answer: str | None) -> list[int]:
    from jinja2 import TemplateError

    def render(messages: list[dict[str, str]]) -> str:
        if answer is not None:
            messages = [*messages, {"role": "assistant", "content": answer}]
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None))

    text = prompt.through_template(render, TemplateError)  # transformers' raise_exception raises TemplateError
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
