"""llama.cpp in-process (CPU/Metal) through llama-cpp-python, with LoRA adapters hot-swapped per request.

llama-cpp-python's ``lora_path`` loads one adapter for the model's lifetime, so
adapters go through llama.cpp's own API instead: each GGUF adapter is loaded
once (a few ms) and applied to the context per request (microseconds). The KV
cache is reset on a switch, since the cached prompt prefix was computed with
other weights.

Domains listed in ``llm.merged_domains`` are served instead by their adapter's
merged GGUF export, a model of its own (more memory, no LoRA arithmetic per token).

A GGUF that carries ``tokenizer.chat_template`` gets its prompts rendered
through it by llama-cpp-python's own formatter, the one ``llama_cpp.server``
uses, so a prompt reads the same in-process and served.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from adapters.gguf_files import verify_adapter_file, verify_base
from adapters.registry import AdapterVersion
from assistant.core.config import LLMSettings
from assistant.core.errors import UserError
from assistant.core.prompts import STOP_SEQUENCES, Prompt
from assistant.core.results import Usage

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

    def __init__(self, gguf: Path, settings: LLMSettings, hash_cache: Path) -> None:
        """``hash_cache``: where file hashes are cached, for checking an adapter's base against ``gguf``."""
        self.settings = settings
        self.gguf = gguf
        self.hash_cache = hash_cache
        _route_llama_logs_to_logging()
        self._llm = self._load_model(gguf)
        self._template = self._chat_formatter()
        # One llama.cpp context is shared state: requests must run one at a time (one lock for all models,
        # since they share the CPU cores anyway).
        self._lock = threading.Lock()
        self._adapters: dict[str, Any] = {}  # name -> llama_adapter_lora pointer
        self._merged: dict[str, Any] = {}  # name -> Llama on the adapter's merged GGUF
        self._applied: str | None = None

    def _load_model(self, gguf: Path) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as err:  # pragma: no cover - a broken install, not a code path
            raise UserError(f"llama-cpp-python is not installed: {err}") from None
        try:
            return Llama(
                model_path=str(gguf),
                n_ctx=self.settings.n_ctx,
                n_threads=self.settings.n_threads or os.cpu_count() or 1,
                seed=self.settings.seed,
                verbose=False,
            )
        except ValueError as err:
            raise UserError(f"cannot load GGUF model {gguf}: {err}") from None

    def _chat_formatter(self) -> Any:
        """llama-cpp-python's renderer of the GGUF's chat template, as its server builds it; None without one."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None

        def text(token: int) -> str:
            return bytes(self._llm.detokenize([token], special=True)).decode("utf-8")

        llm = self._llm
        return Jinja2ChatFormatter(template, eos_token=text(llm.token_eos()), bos_token=text(llm.token_bos()))

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The prompt as the model reads it: rendered through the chat template (whose markers are control
        tokens, and which places BOS itself) when the GGUF has one, else the raw format after BOS."""
        if self._template is None:
            return list(self._llm.tokenize(prompt.text.encode("utf-8"), add_bos=True, special=False))
        # llama-cpp-python's raise_exception raises ValueError
        text = prompt.through_template(lambda messages: self._template(messages=messages).prompt, ValueError)
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def usage(self, prompt: Prompt, completion: str) -> Usage:
        completion_tokens = self._llm.tokenize(completion.encode("utf-8"), add_bos=False, special=False)
        return Usage(prompt_tokens=len(self.prompt_tokens(prompt)), completion_tokens=len(completion_tokens))

    def load_adapter(self, adapter: AdapterVersion) -> None:
        """Load the adapter's GGUF export, once its file proves it was trained on the served GGUF."""
        if adapter.name in self._adapters or adapter.name in self._merged:
            return
        if adapter.card.domain in self.settings.merged_domains:
            self._load_merged(adapter)
            return
        lora = adapter.card.exports.get("lora")
        if lora is None or not Path(lora["path"]).is_file():
            raise UserError(
                f"{adapter.name} has no GGUF export for llama.cpp yet: run `assistant adapters export {adapter.name}`"
            )
        verify_adapter_file(Path(lora["path"]), self.gguf, self.hash_cache)
        self.load_adapter_file(adapter.name, Path(lora["path"]))

    def _load_merged(self, adapter: AdapterVersion) -> None:
        merged = [e for name, e in sorted(adapter.card.exports.items()) if name.startswith("merged_")]
        if not merged or not Path(merged[-1]["path"]).is_file():
            raise UserError(
                f"{adapter.card.domain} is in llm.merged_domains, but {adapter.name} has no merged GGUF: "
                f"run `assistant adapters export {adapter.name} --merged`"
            )
        verify_base(adapter, self.gguf, self.hash_cache)
        model = self._load_model(Path(merged[-1]["path"]))  # q8_0 sorts after f16: the smaller one wins
        with self._lock:
            self._merged.setdefault(adapter.name, model)

    def load_adapter_file(self, name: str, path: Path) -> None:
        """Load a GGUF LoRA adapter once, unchecked; requests then choose it by name."""
        import llama_cpp

        with self._lock:
            if name in self._adapters:
                return
            pointer = llama_cpp.llama_adapter_lora_init(self._llm.model, str(path).encode())
            if not pointer:
                raise UserError(f"llama.cpp could not load the adapter {path} onto {self.gguf.name}")
            self._adapters[name] = pointer

    def _apply(self, adapter: str | None) -> None:
        """Make ``adapter`` (None: the base model) the one the context runs with; the caller holds the lock."""
        import llama_cpp

        if adapter == self._applied:
            return
        if adapter is None:
            status = llama_cpp.llama_set_adapters_lora(self._llm.ctx, None, 0, None)
        else:
            if adapter not in self._adapters:
                raise UserError(f"adapter {adapter} is not loaded")
            pointers = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._adapters[adapter])
            status = llama_cpp.llama_set_adapters_lora(self._llm.ctx, pointers, 1, (ctypes.c_float * 1)(1.0))
        if status != 0:
            raise UserError(f"llama.cpp could not apply adapter {adapter}")
        self._llm.reset()  # the cached prompt prefix was computed with the other weights
        self._applied = adapter

    def next_token_logits(self, prompt: Prompt, adapter: str | None = None) -> np.ndarray:
        """The logits for the token after ``prompt``: what export checks compare across runtimes."""
        import llama_cpp

        tokens = self.prompt_tokens(prompt)
        with self._lock:
            self._apply(adapter)
            self._llm.reset()
            self._llm.eval(tokens)
            logits = llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
            return np.ctypeslib.as_array(logits, shape=(self._llm.n_vocab(),)).copy()

    def stream(self, prompt: Prompt, adapter: str | None = None, grammar: str | None = None) -> Iterator[str]:
        from llama_cpp import LlamaGrammar

        with self._lock:
            tokens = self.prompt_tokens(prompt)
            if len(tokens) + self.settings.max_tokens > self.settings.n_ctx:
                raise UserError(
                    f"the prompt has {len(tokens)} tokens and {self.settings.max_tokens} more may be generated, "
                    f"but the context window is {self.settings.n_ctx}: lower retrieval.k or raise llm.n_ctx"
                )
            llm = self._merged.get(adapter) if adapter else None
            if llm is None:
                self._apply(adapter)
                llm = self._llm
            # No reuse of the previous request's KV cache: evaluating a shared prefix separately rounds
            # differently and flipped near-tied greedy tokens (1 request in 204), so an answer would
            # depend on which request came before it.
            llm.reset()
            for part in llm.create_completion(
                tokens,
                max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature,
                seed=self.settings.seed,
                stop=STOP_SEQUENCES,
                grammar=LlamaGrammar.from_string(grammar, verbose=False) if grammar else None,
                stream=True,
            ):
                yield part["choices"][0]["text"]
