"""Any OpenAI-compatible server (vLLM with ``--enable-lora``, ``python -m llama_cpp.server``), where each
adapter is served as a model of its own and chosen per request by its model name.

A base model gets our raw format on the completions endpoint; an instruct model (``llm.openai.chat``) gets
the prompt's messages on the chat endpoint, rendered by the server through the model's chat template, as
the in-process backends render it. The server owns the weights, so it alone answers for which file, on which base,
a model name serves; this backend only checks that the name is served. The server may run requests
concurrently, and each names its own adapter, so no lock is needed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from adapters.registry import AdapterVersion
from assistant.core.config import LLMSettings
from assistant.core.errors import Unavailable, UserError, require_extra
from assistant.core.prompts import STOP_SEQUENCES, Prompt

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

# No repetition penalty, as in-process: servers otherwise apply their own default (llama_cpp.server: 1.1;
# vLLM: the model's generation_config), which changes greedy answers. Each server reads its own name
# and ignores the other (vLLM logs that it did).
_NO_REPETITION_PENALTY = {"repeat_penalty": 1.0, "repetition_penalty": 1.0}


class OpenAIBackend:
    name = "openai"

    def __init__(self, settings: LLMSettings) -> None:
        """Connect, and check that the server serves the base model's name."""
        if settings.openai.base_url is None:
            raise UserError(
                "llm.backend is 'openai' but llm.openai.base_url is not set: "
                "set it to the server's URL, e.g. http://127.0.0.1:8000/v1"
            )
        require_extra("openai", ("openai",), "the openai backend")
        import openai

        self.settings = settings
        self.url = str(settings.openai.base_url)
        self._client = openai.OpenAI(
            base_url=self.url,
            api_key=settings.openai.api_key.get_secret_value(),
            timeout=settings.openai.timeout_s,
        )
        self._served: set[str] = set()  # model names the server was seen to serve
        self._require(settings.openai.model, "the base model, llm.openai.model")

    def _model(self, adapter: str | None) -> str:
        """The server's model name for an adapter (None: the base model)."""
        if adapter is None:
            return self.settings.openai.model
        return self.settings.openai.adapter_models.get(adapter, adapter)

    @contextmanager
    def _errors(self, model: str) -> Iterator[None]:
        """The client's errors as one-line ``UserError``s, naming the server and the model asked for."""
        import openai

        try:
            yield
        except openai.APIConnectionError as err:
            reason = err.__cause__ or err  # the client's own message is only "Connection error."
            raise Unavailable(f"cannot reach the OpenAI-compatible server at {self.url}: {reason}") from None
        except openai.APIStatusError as err:
            if err.status_code >= 500:
                raise Unavailable(
                    f"the OpenAI-compatible server at {self.url} failed (HTTP {err.status_code}): {err.message}"
                ) from None
            raise UserError(
                f"the OpenAI-compatible server at {self.url} refused a request for model '{model}': "
                f"HTTP {err.status_code}: {err.message}"
            ) from None

    def _require(self, model: str, serves: str) -> None:
        """Refuse a model name the server does not serve: llama_cpp.server would silently answer with its
        first model instead. Listed once per name, so a model the server adds later is still found."""
        if model in self._served:
            return
        with self._errors(model):
            served = sorted(entry.id for entry in self._client.models.list())
        if model not in served:
            raise UserError(
                f"the OpenAI-compatible server at {self.url} does not serve model '{model}' ({serves}); "
                f"it serves: {', '.join(served) or 'no models'}"
            )
        self._served.add(model)

    def load_adapter(self, adapter: AdapterVersion) -> None:
        """Check that the server serves the adapter's model name; its weights are the server's to load."""
        self._require(
            self._model(adapter.name), f"adapter {adapter.name}; map adapters to names with llm.openai.adapter_models"
        )

    def usage(self, prompt: Prompt, completion: str) -> None:
        """Unknown: the tokenizer is the server's, and not every OpenAI-compatible server streams usage
        (llama_cpp.server does not)."""
        return None

    def stream(self, prompt: Prompt, adapter: str | None = None, grammar: str | None = None) -> Iterator[str]:
        model = self._model(adapter)
        decoding: dict[str, Any] = {
            "model": model,
            "max_tokens": self.settings.max_tokens,
            "temperature": self.settings.temperature,
            "seed": self.settings.seed,
            "stop": STOP_SEQUENCES,
            "extra_body": {**_NO_REPETITION_PENALTY, **({"grammar": grammar} if grammar else {})},
        }
        with self._errors(model):
            if self.settings.openai.chat:
                messages = cast("list[ChatCompletionMessageParam]", prompt.messages())
                with self._client.chat.completions.create(messages=messages, stream=True, **decoding) as replies:
                    yield from (r.choices[0].delta.content for r in replies if r.choices and r.choices[0].delta.content)
                return
            with self._client.completions.create(prompt=prompt.text, stream=True, **decoding) as chunks:
                yield from (chunk.choices[0].text for chunk in chunks if chunk.choices)
