"""llama.cpp in-process (CPU/Metal) through llama-cpp-python."""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from assistant.config import LLMSettings
from assistant.errors import UserError
from assistant.prompts import STOP_SEQUENCES

_log = logging.getLogger("llama_cpp")
# llama.cpp logs even harmless notices at ERROR level (e.g. "using full-size SWA cache"); its real
# failures come back as exceptions, so its log is silent unless a developer lowers this level.
_log.setLevel(logging.CRITICAL)
_GGML_LOG_LEVELS = {1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR, 4: logging.DEBUG}
_log_callback: object = None  # ctypes must keep the callback alive as long as llama.cpp may call it


def _route_llama_logs_to_logging() -> None:
    """Send llama.cpp's own log lines to Python logging instead of stderr.

    llama-cpp-python prints some notices (e.g. about its KV cache) even with
    ``verbose=False``; a CLI whose stdout/stderr users read must not show them.
    """
    import llama_cpp

    global _log_callback

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        _log.log(_GGML_LOG_LEVELS.get(level, logging.DEBUG), text.decode("utf-8", "replace").rstrip())

    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))
    _log_callback = forward


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(self, gguf: Path, settings: LLMSettings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as err:  # pragma: no cover - a broken install, not a code path
            raise UserError(f"llama-cpp-python is not installed: {err}") from None
        self.settings = settings
        self.gguf = gguf
        _route_llama_logs_to_logging()
        try:
            self._llm = Llama(
                model_path=str(gguf),
                n_ctx=settings.n_ctx,
                n_threads=settings.n_threads or os.cpu_count() or 1,
                seed=settings.seed,
                verbose=False,
            )
        except ValueError as err:
            raise UserError(f"cannot load GGUF model {gguf}: {err}") from None
        # One llama.cpp context is shared state: requests must run one at a time.
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def stream(self, prompt: str) -> Iterator[str]:
        prompt_tokens = self.count_tokens(prompt)
        if prompt_tokens + self.settings.max_tokens > self.settings.n_ctx:
            raise UserError(
                f"the prompt has {prompt_tokens} tokens and {self.settings.max_tokens} more may be generated, "
                f"but the context window is {self.settings.n_ctx}: lower retrieval.k or raise llm.n_ctx"
            )
        with self._lock:
            for part in self._llm.create_completion(
                prompt,
                max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature,
                seed=self.settings.seed,
                stop=STOP_SEQUENCES,
                stream=True,
            ):
                yield part["choices"][0]["text"]  # type: ignore[index]
