"""A data file to a served adapter: training set → trained version → checked GGUF export.

The CLI's `adapters train` and the UI's Adapters page both run this, so a version trained from
either is built, registered and exported the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from adapters.registry import AdapterVersion
from adapters.training.dataset import load_training_set
from adapters.training.equivalence import Agreement
from adapters.training.export import export_adapter
from adapters.training.train import ProgressCallback, train_adapter
from assistant.runtime import Runtime


def train_from_file(
    runtime: Runtime,
    domain: str,
    data: Path,
    eval_questions: Sequence[str] | None = None,
    *,
    activate: bool = True,
    export: bool = True,
    max_steps: int | None = None,
    epochs: float | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: Callable[[str], None] = print,
) -> tuple[AdapterVersion, list[Agreement]]:
    """Train a new version of ``domain``'s adapter on ``data``; ``eval_questions`` (or near copies) may not be in it.
    ``max_steps``/``epochs`` override the config's for this run only."""
    overrides = {name: value for name, value in (("max_steps", max_steps), ("epochs", epochs)) if value is not None}
    settings = runtime.settings.with_overrides(training=overrides)
    data_set = load_training_set(
        data,
        domain,
        held_out_fraction=settings.training.held_out_fraction,
        seed=settings.training.seed,
        eval_questions=list(eval_questions or []),
    )
    if eval_questions is None:
        on_notice("note: no eval set given, so the data was not checked for eval questions")
    adapter = train_adapter(
        settings,
        domain,
        data_set,
        data.resolve(),
        runtime.retriever(domain),
        activate=activate,
        on_progress=on_progress,
        on_notice=on_notice,
    )
    if not export:
        return adapter, []
    return export_adapter(settings, adapter, on_notice=on_notice)
