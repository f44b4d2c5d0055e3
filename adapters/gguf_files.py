"""GGUF files from a registered adapter: a LoRA adapter for llama.cpp, or a merged model.

Both are written with the ``gguf`` package alone. LoRA tensors keep PEFT's
orientation (``lora_a`` is (r, in), ``lora_b`` (out, r)) under llama.cpp's tensor
names, and llama.cpp scales them by ``alpha / r`` exactly as PEFT does. The
merged model dequantises every base tensor, adds ``(alpha / r) · B @ A`` to the
projections the adapter touched, and writes F16 or Q8_0 with the base's
metadata, norms and other 1-D tensors kept in F32 as llama.cpp's converter does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from adapters.base_model import file_sha256
from adapters.registry import AdapterVersion
from assistant.core.errors import UserError

MergedType = Literal["f16", "q8_0"]
ADAPTER_KEY = "domain_assistant.adapter"
BASE_GGUF_KEY = "domain_assistant.base.gguf_sha256"
BASE_WEIGHTS_KEY = "domain_assistant.base.weights_sha256"

_PEFT_TENSOR = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


@dataclass(frozen=True)
class LoraWeights:
    """A PEFT adapter in llama.cpp's terms: ``{gguf weight name: (A, B)}`` and the scaling alpha."""

    pairs: dict[str, tuple[np.ndarray, np.ndarray]]
    alpha: float = 1.0
    rank: int = 1

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


def read_lora(adapter: AdapterVersion, base_gguf: Path) -> LoraWeights:
    """The adapter's matrices under the base GGUF's tensor names; refuses what llama.cpp cannot serve."""
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((adapter.path / "adapter_config.json").read_text())
    unsupported = [
        k for k in ("modules_to_save", "use_dora", "rank_pattern", "alpha_pattern", "use_rslora") if config.get(k)
    ]
    if unsupported:
        raise UserError(f"{adapter.name} uses {', '.join(unsupported)}: llama.cpp serves plain LoRA matrices only")
    reader = gguf.GGUFReader(base_gguf)
    arch = _field(reader, "general.architecture")
    names = gguf.get_tensor_name_map(_model_arch(arch), int(_field(reader, f"{arch}.block_count")))
    shapes = {t.name: tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors}  # numpy order: (out, in)
    parts: dict[str, dict[str, np.ndarray]] = {}
    for hf_name, tensor in load_file(adapter.path / "adapter_model.safetensors").items():
        match = _PEFT_TENSOR.match(hf_name)
        if match is None:
            raise UserError(f"{adapter.name} trains {hf_name}, which is not a LoRA matrix: llama.cpp cannot serve it")
        target = names.get_name(match["module"] + ".weight", try_suffixes=(".weight",))
        if target is None or target not in shapes:
            raise UserError(f"{adapter.name}: {match['module']} has no tensor in the base GGUF {base_gguf.name}")
        parts.setdefault(target, {})[match["part"]] = tensor.astype(np.float32)
    pairs = {name: (p["A"], p["B"]) for name, p in parts.items()}
    for name, (a, b) in pairs.items():
        if (b.shape[0], a.shape[1]) != shapes[name]:
            raise UserError(
                f"{adapter.name} does not fit {base_gguf.name}: {name} is {shapes[name]}, "
                f"the adapter's is {(b.shape[0], a.shape[1])}. It was trained on another base model"
            )
    return LoraWeights(pairs, float(config["lora_alpha"]), int(config["r"]))


def write_lora_gguf(adapter: AdapterVersion, lora: LoraWeights, base_gguf: Path, out: Path) -> Path:
    """A GGUF LoRA adapter for llama.cpp's hot-swap API, carrying the identity of its base."""
    import gguf

    arch = _field(gguf.GGUFReader(base_gguf), "general.architecture")
    writer = gguf.GGUFWriter(_partial(out), arch=arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, lora.alpha)
    writer.add_name(adapter.name)
    _add_identity(writer, adapter)
    for name, (a, b) in sorted(lora.pairs.items()):
        writer.add_tensor(f"{name}.lora_a", a)
        writer.add_tensor(f"{name}.lora_b", b)
    return _finish(writer, out)


def write_merged_gguf(
    adapter: AdapterVersion | None, lora: LoraWeights, base_gguf: Path, out: Path, out_type: MergedType
) -> Path:
    """The base with the adapter folded in: one self-contained model for llama.cpp, with the base's metadata.

    Without an adapter (``adapter=None``, no pairs), the plain base in ``out_type``: the export check's baseline.
    """
    import gguf
    from gguf.quants import dequantize, quantize

    reader = gguf.GGUFReader(base_gguf)
    arch = _field(reader, "general.architecture")
    writer = gguf.GGUFWriter(_partial(out), arch=arch)
    if "general.alignment" in reader.fields:
        writer.data_alignment = int(_field(reader, "general.alignment"))
    file_type = gguf.LlamaFileType.MOSTLY_F16 if out_type == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        value = int(file_type) if field.name == gguf.Keys.General.FILE_TYPE else field.contents()
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, field.types[0], sub_type=sub_type)
    if gguf.Keys.General.FILE_TYPE not in reader.fields:
        writer.add_file_type(int(file_type))
    if adapter is not None:
        _add_identity(writer, adapter)
    for tensor in reader.tensors:
        weights = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        weights = weights.reshape(tuple(int(d) for d in reversed(tensor.shape)))
        if tensor.name in lora.pairs:
            a, b = lora.pairs[tensor.name]
            weights += lora.scale * (b @ a)
        if weights.ndim <= 1 or tensor.name.endswith("_norm.weight"):
            writer.add_tensor(tensor.name, weights)  # norms and biases stay F32, as llama.cpp's converter keeps them
        elif out_type == "f16":
            writer.add_tensor(tensor.name, weights.astype(np.float16))
        else:
            q8 = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(tensor.name, quantize(weights, q8), raw_dtype=q8)
    return _finish(writer, out)


def gguf_adapter_identity(path: Path) -> dict[str, str]:
    """What an exported adapter says about itself and its base (read at load time, memory-mapped)."""
    import gguf

    reader = gguf.GGUFReader(path)
    if "general.type" not in reader.fields or _field(reader, "general.type") != "adapter":
        raise UserError(f"{path} is not a GGUF LoRA adapter")
    keys = {"adapter": ADAPTER_KEY, "base_gguf_sha256": BASE_GGUF_KEY, "base_weights_sha256": BASE_WEIGHTS_KEY}
    return {name: str(_field(reader, key)) for name, key in keys.items() if key in reader.fields}


def _add_identity(writer: Any, adapter: AdapterVersion) -> None:
    writer.add_string(ADAPTER_KEY, adapter.name)
    writer.add_string(BASE_WEIGHTS_KEY, adapter.card.base.weights_sha256)
    if adapter.card.base.gguf_sha256:
        writer.add_string(BASE_GGUF_KEY, adapter.card.base.gguf_sha256)


def _field(reader: Any, key: str) -> Any:
    if key not in reader.fields:
        raise UserError(f"{reader.data.filename} lacks the GGUF key {key}")
    return reader.fields[key].contents()


def _model_arch(name: str) -> Any:
    import gguf

    for arch, arch_name in gguf.MODEL_ARCH_NAMES.items():
        if arch_name == name:
            return arch
    raise UserError(f"the gguf package does not know the architecture {name!r}")


def _partial(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(out.name + ".partial")


def _finish(writer: Any, out: Path) -> Path:
    """Write beside the target and rename, so a killed export never leaves a file llama.cpp would load."""
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    _partial(out).replace(out)
    return out


def verify_base(adapter: AdapterVersion, base_gguf: Path, cache_dir: Path) -> None:
    """Refuse to export an adapter trained on other weights than the GGUF it would run on."""
    if adapter.card.base.gguf_sha256 is not None:  # else trained on an HF folder: read_lora checks every shape
        _refuse_other_base(adapter.name, adapter.card.base.name, adapter.card.base.gguf_sha256, base_gguf, cache_dir)


def verify_adapter_file(path: Path, base_gguf: Path, cache_dir: Path) -> str:
    """The adapter's name, once its file proves it was trained on ``base_gguf``; refused otherwise."""
    identity = gguf_adapter_identity(path)
    name = identity.get("adapter", path.name)
    if "base_gguf_sha256" in identity:
        _refuse_other_base(name, "its base", identity["base_gguf_sha256"], base_gguf, cache_dir)
    return name


def _refuse_other_base(name: str, trained_on: str, expected: str, base_gguf: Path, cache_dir: Path) -> None:
    actual = file_sha256(base_gguf, cache_dir)
    if actual != expected:
        raise UserError(
            f"adapter {name} was trained on {trained_on} (GGUF sha256 {expected[:12]}…), "
            f"but the model configured is {base_gguf.name} (sha256 {actual[:12]}…): "
            "serve the base it was trained on, or train the adapter again on this one"
        )
