"""`assistant adapters export`: write an adapter's GGUF files, check them, record them on its card."""

from __future__ import annotations

from collections.abc import Callable

from adapters.base_model import resolve_base_model
from adapters.gguf_files import MergedType, read_lora, verify_base, write_lora_gguf, write_merged_gguf
from adapters.registry import AdapterVersion, Registry
from adapters.training.equivalence import MIN_EFFECT_COSINE, SERVED_BASE_CHECK, Agreement, check_export
from assistant.core.config import Settings
from assistant.core.errors import TRAIN_MODULES, UserError, require_extra
from assistant.core.models import resolve_gguf


def export_adapter(
    settings: Settings,
    adapter: AdapterVersion,
    *,
    merged: MergedType | None = None,
    check: bool = True,
    on_notice: Callable[[str], None] = print,
) -> tuple[AdapterVersion, list[Agreement]]:
    """The GGUF adapter (and a merged model), checked against PEFT and recorded on the card.

    An artifact that fails the check is deleted and the export fails: nobody should serve it. The adapter
    on the quantised served base is only reported (see ``adapters.training.equivalence``).
    """
    if check:
        require_extra("train", TRAIN_MODULES, "checking an export against PEFT (or --no-check)")
    served = resolve_gguf(settings)
    verify_base(adapter, served, settings.models_dir)
    lora = read_lora(adapter, served)
    stem = f"{adapter.card.domain}-v{adapter.card.version}"
    files = {"lora": write_lora_gguf(adapter, lora, served, adapter.path / f"{stem}.lora.gguf")}
    if merged is not None:
        on_notice(f"merging {adapter.name} into {served.name} as {merged.upper()}")
        files[f"merged_{merged}"] = write_merged_gguf(
            adapter, lora, served, adapter.path / f"{stem}.merged-{merged}.gguf", merged
        )
    checks: list[Agreement] = []
    if check:
        base = resolve_base_model(settings)
        if base.identity.weights_sha256 != adapter.card.base.weights_sha256:
            raise UserError(f"{adapter.name} was trained on other weights than {base.path}: cannot check its export")
        on_notice("checking the export: llama.cpp's next-token logits against transformers + PEFT")
        checks = check_export(adapter, base, served, files, settings.models_dir)
    # The adapter file is proven on the F16 base; on the quantised served base the figures say what users get,
    # and quantisation noise beyond the gate there is the base's doing, not the file's: reported, not deleted.
    failed = [c for c in checks if not c.passed and c.artifact != SERVED_BASE_CHECK]
    for noisy in (c for c in checks if c.artifact == SERVED_BASE_CHECK and not c.passed):
        on_notice(
            f"note: on the quantised served base, llama.cpp's logits differ from PEFT's by up to "
            f"{noisy.max_logit_diff} (the plain base already by {noisy.noise_floor}); top-1 agreement "
            f"{noisy.top1_agreement:.0%}"
        )
    for name in {_file_of(c.artifact) for c in failed}:
        files.pop(name).unlink()
    exports = {
        name: {"path": str(path), "checks": [c.model_dump() for c in checks if _file_of(c.artifact) == name]}
        for name, path in files.items()
    }
    adapter = Registry(settings.adapters_dir).save_card(adapter, exports=exports)
    if failed:
        figures = "; ".join(
            f"{c.artifact}: max logit difference {c.max_logit_diff} (tolerance {c.tolerance}), "
            f"effect cosine {c.effect_cosine} (needs {MIN_EFFECT_COSINE})"
            for c in failed
        )
        raise UserError(f"an exported GGUF does not compute what the adapter does, so it was deleted: {figures}")
    return adapter, checks


def _file_of(artifact: str) -> str:
    """The exported file a check is about: both lora checks test the adapter file."""
    return "lora" if artifact.startswith("lora") else artifact
