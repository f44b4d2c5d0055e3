"""transformers + PEFT in-process on the training base, with LoRA adapters switched per request.

This serves adapters exactly as training computed them (no GGUF export), at
the cost of a slower CPU path than llama.cpp; on CUDA the base is loaded
4-bit NF4 as QLoRA trained it. All adapters share one base model: each is
loaded once under its own PEFT name and activated for the request that asks
for it, or disabled for a request on the base.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from adapters.base_model import load_causal_lm, load_options, resolve_base_model, training_plan
from adapters.prompt_tokens import prompt_ids
from adapters.registry import AdapterVersion
from assistant.core.config import Settings
from assistant.core.errors import TRAIN_MODULES, UserError, require_extra
from assistant.core.prompts import STOP_SEQUENCES, Prompt
from assistant.core.results import Usage


def until_stop(pieces: Iterable[str], stops: list[str]) -> Iterator[str]:
    """The text of ``pieces`` up to the first stop sequence, never yielding any part of one.

    A stop sequence may arrive split over pieces, so text that could begin one is held back until it can't.
    """
    held = ""
    for piece in pieces:
        held += piece
        found = [i for i in (held.find(stop) for stop in stops) if i >= 0]
        if found:
            if min(found) > 0:
                yield held[: min(found)]
            return
        keep = max((n for stop in stops for n in range(len(stop) - 1, 0, -1) if held.endswith(stop[:n])), default=0)
        if len(held) > keep:
            yield held[: len(held) - keep]
            held = held[len(held) - keep :]
    if held:
        yield held


class HFBackend:
    name = "hf"

    def __init__(self, settings: Settings) -> None:
        require_extra("train", TRAIN_MODULES, "the hf backend")
        import torch
        from transformers import AutoTokenizer

        self.settings = settings.llm
        self.base = resolve_base_model(settings)
        self._tokenizer = AutoTokenizer.from_pretrained(self.base.path)
        self._model: Any = load_causal_lm(self.base.path, **load_options(training_plan(torch.cuda.is_available())))
        self._model.eval()
        # One model, one active adapter: requests (and adapter loads) must run one at a time.
        self._lock = threading.Lock()
        # Adapter name -> its PEFT name: PEFT names become module keys, which can't hold the "." a domain may.
        self._peft_names: dict[str, str] = {}
        stop_tokens = [self._tokenizer.convert_tokens_to_ids("<end_of_turn>"), self._tokenizer.eos_token_id]
        self._eos_ids = [t for t in stop_tokens if t is not None and t != self._tokenizer.unk_token_id]

    def load_adapter(self, adapter: AdapterVersion) -> None:
        """Load the PEFT adapter folder onto the shared base, once its card proves it was trained on it."""
        from peft import PeftModel

        with self._lock:
            if adapter.name in self._peft_names:
                return
            trained_on, served = adapter.card.base, self.base.identity
            if trained_on.weights_sha256 != served.weights_sha256:
                raise UserError(
                    f"adapter {adapter.name} was trained on {trained_on.name} (weights sha256 "
                    f"{trained_on.weights_sha256[:12]}…), but the hf backend serves {served.name} (sha256 "
                    f"{served.weights_sha256[:12]}…): serve the base it was trained on, or train it again on this one"
                )
            peft_name = f"adapter{len(self._peft_names)}"
            if self._peft_names:
                self._model.load_adapter(adapter.path, adapter_name=peft_name)
            else:
                self._model = PeftModel.from_pretrained(self._model, adapter.path, adapter_name=peft_name).eval()
            self._peft_names[adapter.name] = peft_name

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The prompt as the model reads it, rendered as training rendered its examples."""
        return prompt_ids(self._tokenizer, prompt)

    def stream(self, prompt: Prompt, adapter: str | None = None, grammar: str | None = None) -> Iterator[str]:
        """``grammar`` is not applied: transformers has no grammar-constrained decoding of its own."""
        with self._lock:
            if adapter is not None and adapter not in self._peft_names:
                raise UserError(f"adapter {adapter} is not loaded")
            with contextlib.closing(self._generate(prompt, adapter)) as pieces:
                yield from until_stop(pieces, STOP_SEQUENCES)

    def usage(self, prompt: Prompt, completion: str) -> Usage:
        completion_tokens = self._tokenizer(completion, add_special_tokens=False)["input_ids"]
        return Usage(prompt_tokens=len(self.prompt_tokens(prompt)), completion_tokens=len(completion_tokens))

    def _with_adapter(self, adapter: str | None) -> AbstractContextManager[Any]:
        """Activate ``adapter``, or the plain base (None) for the duration of the context."""
        if adapter is not None:
            self._model.set_adapter(self._peft_names[adapter], inference_mode=True)
            return contextlib.nullcontext()
        return self._model.disable_adapter() if self._peft_names else contextlib.nullcontext()

    def _generate(self, prompt: Prompt, adapter: str | None) -> Generator[str, None, None]:
        """Decoded text as ``generate`` produces it in a worker thread; closing this stops the worker.

        The caller holds the lock.
        """
        import torch
        from transformers import GenerationConfig, StoppingCriteria, TextIteratorStreamer

        class StopWhenClosed(StoppingCriteria):
            def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **_: Any) -> torch.BoolTensor:
                return torch.full((input_ids.shape[0],), closed.is_set(), device=input_ids.device)  # type: ignore[return-value]

        sample = self.settings.temperature > 0
        config = GenerationConfig(
            max_new_tokens=self.settings.max_tokens,
            do_sample=sample,
            temperature=self.settings.temperature if sample else None,
            eos_token_id=self._eos_ids,
            pad_token_id=self._tokenizer.pad_token_id,
        )
        ids = torch.tensor([self.prompt_tokens(prompt)], device=self._model.device)
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        closed = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._with_adapter(adapter):
                    if sample:
                        torch.manual_seed(self.settings.seed)  # each request samples as a fresh run would
                    self._model.generate(
                        **inputs, generation_config=config, streamer=streamer, stopping_criteria=[StopWhenClosed()]
                    )
            except BaseException as err:
                failure.append(err)
                streamer.end()  # unblocks the reader below

        worker = threading.Thread(target=run, name="hf-generate", daemon=True)
        worker.start()
        try:
            yield from streamer
        finally:
            closed.set()
            worker.join()
        if failure:
            raise failure[0]
