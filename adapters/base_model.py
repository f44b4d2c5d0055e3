"""The frozen base model adapters are trained on, its identity, and how this hardware loads it.

An adapter only means something on the exact weights it was trained on, so
every base has an identity: the sha256 of its weight files. The offline
default is converted once from the GGUF the assistant serves (transformers
dequantises it to fp32) and cached in the data home; its identity records the
GGUF's sha256 too, so llama.cpp can refuse an adapter trained on another base.
Training and the hf backend load it through the same plan: 4-bit NF4 on CUDA, fp32 elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.core.config import Settings
from assistant.core.errors import TRAIN_MODULES, UserError, require_extra
from assistant.core.files import replacing, write_atomic
from assistant.core.models import resolve_gguf

IDENTITY_FILE = "identity.json"
_HASH_CACHE = "hashes.json"


@dataclass(frozen=True)
class BaseModelIdentity:
    """What an adapter card records about its base; ``gguf_sha256`` is set when converted from a GGUF."""

    name: str
    weights_sha256: str
    gguf_sha256: str | None = None


@dataclass(frozen=True)
class BaseCheckpoint:
    path: Path
    identity: BaseModelIdentity


def resolve_base_model(settings: Settings, on_notice: Callable[[str], None] | None = None) -> BaseCheckpoint:
    """The configured HF folder, or the served GGUF converted once into the data home."""
    configured = settings.training.base_model
    if configured is not None:
        path = configured.expanduser().resolve()
        if not (path / "config.json").is_file():
            raise UserError(f"training.base_model is not a transformers model folder: {path}")
        identity = BaseModelIdentity(name=path.name, weights_sha256=weights_sha256(path, settings.models_dir))
        return BaseCheckpoint(path, identity)
    gguf = resolve_gguf(settings)
    gguf_hash = file_sha256(gguf, settings.models_dir)
    target = settings.models_dir / f"{gguf.stem}-hf-{gguf_hash[:12]}"
    if not (target / IDENTITY_FILE).is_file():
        if on_notice is not None:
            on_notice(f"converting {gguf.name} to a transformers model once, into {target} (1-2 minutes)")
        _convert_gguf(gguf, gguf_hash, target)
    identity = BaseModelIdentity(**json.loads((target / IDENTITY_FILE).read_text()))
    return BaseCheckpoint(target, identity)


@dataclass(frozen=True)
class TrainingPlan:
    """How the base is loaded and optimised on this hardware."""

    method: str
    device: str
    quantization: Any  # transformers.BitsAndBytesConfig on CUDA, else None
    optimizer: str
    bf16: bool


def training_plan(cuda: bool, cpu_bf16: bool = False) -> TrainingPlan:
    """The one hardware check: QLoRA needs CUDA (bitsandbytes 4-bit); without it, LoRA on the fp32 base,
    optionally under bf16 autocast (worth it only where the CPU computes bf16 natively: AVX512-BF16, AMX)."""
    if not cuda:
        method = "LoRA (fp32 base; no CUDA, so no 4-bit QLoRA)" + (", bf16 autocast" if cpu_bf16 else "")
        return TrainingPlan(method, "cpu", None, "adamw_torch", cpu_bf16)
    import torch
    from transformers import BitsAndBytesConfig

    nf4 = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    return TrainingPlan("QLoRA (4-bit NF4 base, double quantisation)", "cuda", nf4, "paged_adamw_8bit", True)


def load_options(plan: TrainingPlan) -> dict[str, Any]:
    """``from_pretrained`` options for the base on this hardware: the 4-bit NF4 base QLoRA trained on, or fp32."""
    import torch

    if plan.device == "cuda":
        return {"dtype": torch.bfloat16, "quantization_config": plan.quantization, "device_map": {"": 0}}
    return {"dtype": torch.float32}


def load_causal_lm(path: Path, **options: Any) -> Any:
    """A transformers causal LM from a local folder, without a progress bar for a one-second load."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    return AutoModelForCausalLM.from_pretrained(path, **options)


def _convert_gguf(gguf_path: Path, gguf_hash: str, target: Path) -> None:
    """Dequantise the GGUF into a transformers folder; built beside the target, then renamed.

    transformers does not read the GGUF's chat template, so it is carried over here: training and the hf
    backend must render prompts as llama.cpp does from the GGUF."""
    require_extra("train", TRAIN_MODULES, "converting the base model for transformers")
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # The weights are plain fp32 once loaded; the GGUF "quantizer" only blocks save_pretrained.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    fields = gguf.GGUFReader(gguf_path).fields
    if gguf.Keys.Tokenizer.CHAT_TEMPLATE in fields:
        tokenizer.chat_template = str(fields[gguf.Keys.Tokenizer.CHAT_TEMPLATE].contents())
    with replacing(target) as partial:
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        weights = _hash_weights(partial)
        identity = BaseModelIdentity(name=gguf_path.stem, weights_sha256=weights, gguf_sha256=gguf_hash)
        (partial / IDENTITY_FILE).write_text(json.dumps(asdict(identity), indent=2))
        shutil.rmtree(target, ignore_errors=True)  # a folder is only renamed onto a missing one


def weights_sha256(folder: Path, cache_dir: Path) -> str:
    """sha256 over the folder's weight files, cached by their size and modification time."""
    files = _weight_files(folder)
    key = "|".join(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    return _cached(cache_dir, key, lambda: _hash_weights(folder))


def file_sha256(path: Path, cache_dir: Path) -> str:
    stat = path.stat()
    return _cached(cache_dir, f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}", lambda: _hash_files([path]))


def _weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        raise UserError(f"no weight files (*.safetensors or *.bin) in {folder}")
    return files


def _hash_weights(folder: Path) -> str:
    return _hash_files(_weight_files(folder))


def _hash_files(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


def _cached(cache_dir: Path, key: str, compute: Callable[[], str]) -> str:
    cache_file = cache_dir / _HASH_CACHE
    try:
        cache: dict[str, str] = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        cache = {}  # a cache cut short (by a full disk, say) is only a cache: its hashes are computed again
    if key not in cache:
        cache[key] = compute()
        write_atomic(cache_file, json.dumps(cache, indent=1))
    return cache[key]
