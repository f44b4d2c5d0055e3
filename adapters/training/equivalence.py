"""After export: does llama.cpp, running the exported GGUF, compute what PEFT computes?

The reference is transformers + PEFT on the fp32 base the adapter was trained
on, which is the served GGUF dequantised. llama.cpp never matches it bit for
bit, so each artifact is compared against its own noise floor: the same
runtime and weight format *without* the adapter, against transformers without
it. That plain base is the GGUF's weights rewritten in F16 (or Q8_0) with the
same code that writes merged models, cached in the data home.

* ``lora``: the adapter file on the plain F16 base. F16 holds the dequantised
  weights almost exactly, so this isolates the adapter file itself (names,
  orientation, alpha/r scale).
* ``merged_f16`` / ``merged_q8_0``: the merged model.
* ``lora_on_served_base``: the adapter file on the quantised GGUF the assistant
  serves. llama.cpp quantises activations on that path too, and that noise
  propagates differently with and without the adapter, so only test (1)
  applies, and it does not gate the export (a trained policy adapter
  exceeded it, 1.87 against 1.69, while passing on F16): the figures show
  users what they will get.

An artifact passes when (1) its largest logit difference from PEFT stays
within ``2 * floor + 0.05`` (the floor varies between prompts, hence twice it;
0.05 absorbs rounding where the floor is near zero) and (2) it reproduces the
adapter's *effect*: its change to the logits versus its plain base correlates
with PEFT's change at cosine >= 0.98. A transposed matrix, a wrong scale or a
missing layer fails (2) even when an adapter's effect is small. An effect
smaller than the floor can't be told from noise and is reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from adapters.base_model import BaseCheckpoint, load_causal_lm
from adapters.gguf_files import LoraWeights, MergedType, write_merged_gguf
from adapters.prompt_tokens import prompt_ids
from adapters.registry import AdapterVersion
from assistant.backends.llamacpp import LlamaCppBackend
from assistant.core.config import LLMSettings
from assistant.core.prompts import Prompt, build_prompt
from assistant.core.results import Passage

MIN_EFFECT_COSINE = 0.98
SERVED_BASE_CHECK = "lora_on_served_base"  # informs users; the export's gate is the F16 check
_CHECK_QUESTIONS = [
    ("How long are signed contracts kept?", "Signed contracts are kept for ten years after they end. [C4.2]"),
    ("What does a blinking amber light mean?", "A blinking amber light means the unit is resetting; wait two minutes."),
    ("Can I work from abroad?", "Employees may work from another country for up to 20 days a year with approval."),
]


class Agreement(BaseModel):
    """One exported artifact's agreement with the PEFT reference, as recorded on the adapter card."""

    artifact: str
    prompts: int
    top1_agreement: float = Field(description="Share of prompts whose most likely next token is PEFT's.")
    max_logit_diff: float
    noise_floor: float = Field(description="The same difference for the plain base in the same runtime and format.")
    tolerance: float
    adapter_effect: float = Field(description="Largest change the adapter makes to PEFT's logits.")
    effect_cosine: float | None = Field(description="Cosine of the artifact's and PEFT's logit changes.")
    passed: bool


@dataclass(frozen=True)
class Logits:
    """Next-token logits for each check prompt (prompts x vocabulary), without and with the adapter."""

    plain: np.ndarray
    adapted: np.ndarray


def check_prompts() -> list[Prompt]:
    """A few prompts in the format the assistant serves, one passage each."""
    return [
        build_prompt(
            question,
            [Passage(chunk_id="check", domain="check", source="check.md", title="Check", text=text, score=1.0)],
        )
        for question, text in _CHECK_QUESTIONS
    ]


def check_export(
    adapter: AdapterVersion, base: BaseCheckpoint, served_gguf: Path, files: dict[str, Path], plain_dir: Path
) -> list[Agreement]:
    """Agreement of every exported file (``{"lora": path, "merged_f16": path, ...}``) with PEFT."""
    prompts = check_prompts()
    reference = reference_logits(adapter, base, prompts)
    f16 = plain_base(served_gguf, "f16", plain_dir)
    checks = [
        agreement(reference, *llamacpp_lora_logits(f16, files["lora"], prompts), "lora"),
        agreement(
            reference,
            *llamacpp_lora_logits(served_gguf, files["lora"], prompts),
            SERVED_BASE_CHECK,
            effect_test=False,
        ),
    ]
    for name, path in files.items():
        if name.startswith("merged_"):
            plain = plain_base(served_gguf, name.removeprefix("merged_"), plain_dir)  # type: ignore[arg-type]
            checks.append(agreement(reference, llamacpp_logits(plain, prompts), llamacpp_logits(path, prompts), name))
    return checks


def plain_base(served_gguf: Path, out_type: MergedType, cache_dir: Path) -> Path:
    """The served GGUF's own weights rewritten in ``out_type``: the baseline of a check in that format."""
    path = cache_dir / f"{served_gguf.stem}.plain-{out_type}.gguf"
    if not path.is_file():
        write_merged_gguf(None, LoraWeights({}), served_gguf, path, out_type)
    return path


def reference_logits(adapter: AdapterVersion, base: BaseCheckpoint, prompts: list[Prompt]) -> Logits:
    """transformers + PEFT on the fp32 base: the computation training optimised."""
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base.path)
    model = PeftModel.from_pretrained(load_causal_lm(base.path, dtype=torch.float32), adapter.path).eval()

    def last_logits() -> np.ndarray:
        rows = []
        for prompt in prompts:
            ids = torch.tensor([prompt_ids(tokenizer, prompt)])
            with torch.no_grad():
                rows.append(model(input_ids=ids, logits_to_keep=1).logits[0, -1].float().numpy())
        return np.stack(rows)

    adapted = last_logits()
    with model.disable_adapter():
        return Logits(plain=last_logits(), adapted=adapted)


def llamacpp_logits(gguf: Path, prompts: list[Prompt]) -> np.ndarray:
    return _next_token_logits(_llamacpp(gguf), prompts, None)


def llamacpp_lora_logits(gguf: Path, adapter_gguf: Path, prompts: list[Prompt]) -> tuple[np.ndarray, np.ndarray]:
    """Logits without and with the adapter, from one loaded model hot-swapping it as served."""
    backend = _llamacpp(gguf)
    backend.load_adapter_file("checked", adapter_gguf)
    return _next_token_logits(backend, prompts, None), _next_token_logits(backend, prompts, "checked")


def _llamacpp(gguf: Path) -> LlamaCppBackend:
    return LlamaCppBackend(gguf, LLMSettings(n_ctx=1024), hash_cache=gguf.parent)


def _next_token_logits(backend: LlamaCppBackend, prompts: list[Prompt], adapter: str | None) -> np.ndarray:
    return np.stack([backend.next_token_logits(p, adapter) for p in prompts])


def agreement(
    reference: Logits, plain: np.ndarray, adapted: np.ndarray, artifact: str, *, effect_test: bool = True
) -> Agreement:
    """Compare an artifact's logits (``adapted``) with PEFT's, against the floor its plain base sets."""
    floor = float(np.abs(plain - reference.plain).max())
    tolerance = 2 * floor + 0.05
    max_diff = float(np.abs(adapted - reference.adapted).max())
    effect = reference.adapted - reference.plain
    effect_size = float(np.abs(effect).max())
    cosine = _cosine(adapted - plain, effect) if effect_size > floor else None
    return Agreement(
        artifact=artifact,
        prompts=len(adapted),
        top1_agreement=float((adapted.argmax(1) == reference.adapted.argmax(1)).mean()),
        max_logit_diff=round(max_diff, 4),
        noise_floor=round(floor, 4),
        tolerance=round(tolerance, 4),
        adapter_effect=round(effect_size, 4),
        effect_cosine=None if cosine is None else round(cosine, 4),
        passed=max_diff <= tolerance and (cosine is None or not effect_test or cosine >= MIN_EFFECT_COSINE),
    )


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
