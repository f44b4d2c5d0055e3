"""Embeddings of a sentence-transformers model, loaded once per process from a local folder.

Chroma gets a registered embedding function wrapping the same model: without
one it falls back to a default that downloads an ONNX model, and an
unregistered one cannot be rebuilt by a new process that reopens the index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
from chromadb import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function
from tokenizers import Tokenizer

from assistant.core.config import Settings
from assistant.core.models import resolve_embedding_model
from ingest.onnx_embedding import load_onnx_encoder, load_sentence_transformer


class Embedder:
    """One embedding model: its vectors, its token counts, and the identity an index records.

    With a ``cache_dir``, a plain model runs as its checked ONNX export (``ingest.onnx_embedding``), so
    a process that only asks never imports torch; otherwise, and for other shapes, on sentence-transformers.
    """

    def __init__(self, path: Path, model_id: str, batch_size: int = 32, cache_dir: Path | None = None) -> None:
        self.path = path
        self.model_id = model_id
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        onnx = load_onnx_encoder(path, cache_dir, batch_size) if cache_dir is not None else None
        if onnx is not None:
            self._encode: Callable[[list[str]], np.ndarray] = onnx.encode
            self.runtime = "onnxruntime"
            self.max_tokens = onnx.recipe.max_tokens
            self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        else:
            model = load_sentence_transformer(path)
            self._encode = partial(
                model.encode, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
            self.runtime = "sentence-transformers"
            self.max_tokens = model.max_seq_length or 512  # BERT-style models' usual limit
            self._tokenizer = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
        # Counting must see every token: no truncation, no padding.
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.dimension = int(self.embed([""]).shape[1])
        self.embed_query = lru_cache(maxsize=256)(self._embed_query)

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        path, model_id = resolve_embedding_model(settings)
        return load_embedder(path, model_id, settings.embedding.batch_size, settings.models_dir)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text without [CLS]/[SEP], the unit of the model's length limit."""
        if not texts:
            return []
        return [len(encoding.ids) for encoding in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, so that cosine similarity is a dot product."""
        return np.asarray(self._encode(texts), dtype=np.float32)

    def _embed_query(self, text: str) -> tuple[float, ...]:
        # A tuple, so the cached value cannot be changed by a caller.
        return tuple(float(x) for x in self.embed([text])[0])


# One embedder per model and runtime in a process, whoever asks for it: the runtime, or Chroma rebuilding its
# function from a collection's stored config. The batch size only paces the work, so it never makes a second one.
_loaded: dict[tuple[Path, str, Path | None], Embedder] = {}


def load_embedder(path: Path, model_id: str, batch_size: int = 32, cache_dir: Path | None = None) -> Embedder:
    """The process's embedder for this model: on its ONNX export when ``cache_dir`` holds (or can hold) one."""
    key = (path.resolve(), model_id, cache_dir.resolve() if cache_dir else None)  # homes that link one models folder
    if key not in _loaded:
        _loaded[key] = Embedder(path, model_id, batch_size, cache_dir)
    return _loaded[key]


@register_embedding_function
class ChromaEmbedding(EmbeddingFunction[Documents]):
    """The product's embedder as Chroma sees it; the config names the model it was built with."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        return "domain_assistant_sentence_transformer"

    def default_space(self) -> Any:
        return "cosine"

    def supported_spaces(self) -> Any:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        embedder = self.embedder
        cache_dir = str(embedder.cache_dir) if embedder.cache_dir is not None else None
        return {
            "model_id": embedder.model_id,
            "path": str(embedder.path),
            "batch_size": embedder.batch_size,
            "cache_dir": cache_dir,
        }

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbedding:
        """Chroma rebuilds the function from its config whenever it opens a collection: the embedder the process
        already loaded for the model, else the one the config describes (on its ONNX export when it names one)."""
        path, model_id = Path(config["path"]), config["model_id"]
        loaded = [embedder for (p, m, _), embedder in _loaded.items() if (p, m) == (path, model_id)]
        if loaded:
            return ChromaEmbedding(loaded[0])
        cache_dir = Path(config["cache_dir"]) if config.get("cache_dir") else None
        return ChromaEmbedding(load_embedder(path, model_id, config.get("batch_size", 32), cache_dir))
