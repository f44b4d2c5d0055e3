"""Generation backends behind one small protocol, created by ``create_backend``.

Each backend lives in its own module and imports its heavy library only when
it is created, so that installing one backend never requires the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from adapters.registry import AdapterVersion
from assistant.core.config import Settings
from assistant.core.prompts import Prompt
from assistant.core.results import Usage


class Backend(Protocol):
    """Renders a prompt for its model (through the model's chat template where it has one) and streams
    the completion as text pieces."""

    name: str

    def stream(self, prompt: Prompt, adapter: str | None = None, grammar: str | None = None) -> Iterator[str]:
        """Yield the completion piece by piece, with a loaded adapter or the base model (None).

        ``grammar`` (GBNF) constrains the output where the backend can: llama.cpp, in-process or served.
        Requests on one instance never interleave, and each runs with its own adapter only.
        """
        ...

    def usage(self, prompt: Prompt, completion: str) -> Usage | None:
        """The tokens of ``prompt`` as rendered for the model and of the ``completion`` it streamed last; None
        where they cannot be known (a server that reports none)."""
        ...

    def load_adapter(self, adapter: AdapterVersion) -> None:
        """Make ``adapter`` available to later requests under its name; a no-op when it already is.

        Refuses (``UserError``) an adapter trained on another base, or without the artifact this backend serves.
        """
        ...


def create_backend(settings: Settings) -> Backend:
    """The backend named by ``settings.llm.backend``, with its model loaded."""
    if settings.llm.backend == "llamacpp":
        from assistant.backends.llamacpp import LlamaCppBackend
        from assistant.core.models import resolve_gguf

        return LlamaCppBackend(resolve_gguf(settings), settings.llm, settings.models_dir)
    if settings.llm.backend == "hf":
        from assistant.backends.hf import HFBackend

        return HFBackend(settings)
    if settings.llm.backend == "openai":
        from assistant.backends.openai import OpenAIBackend

        return OpenAIBackend(settings.llm)
    raise AssertionError(f"unhandled backend {settings.llm.backend!r}")  # the config schema forbids it
