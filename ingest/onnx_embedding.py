"""An embedding model in its ONNX form: exported once, checked, then run without torch.

Importing sentence-transformers pulls in torch and transformers, which cost a
cold ``ask`` most of its start-up just to embed one question. So a plain
sentence-transformers model (a transformer, then mean or CLS pooling) is
exported once through ``torch.onnx`` into the data home's models folder, and
from then on embedded with onnxruntime and the model's own Rust tokenizer,
which load in a fraction of a second. An export that does not reproduce
sentence-transformers' vectors on ``CHECK_TEXTS`` is discarded; models of any
other shape stay on sentence-transformers.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

# Short, past the length limit, accented, and empty: what pooling and truncation meet.
CHECK_TEXTS = ["How do I reset the router to factory settings?", "word " * 400, "Café, naïve, Zürich — 42 €", ""]
MIN_CHECK_COSINE = 0.9999
_PLAIN_MODULES = (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])  # sentence_transformers.models.*
_POOLINGS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


@dataclass(frozen=True)
class Recipe:
    """What sentence-transformers does around the transformer, read from the model folder."""

    pooling: str  # "mean" or "cls"
    max_tokens: int
    lowercase: bool


def read_recipe(folder: Path) -> Recipe | None:
    """The recipe of a plain transformer → mean/CLS pooling (→ normalize) model with a fast tokenizer;
    None for any other shape."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        pooling = json.loads((folder / pooling_dir / "config.json").read_text())
        limits = json.loads((folder / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration):
        return None
    modes = [_POOLINGS.get(mode, mode) for mode, on in pooling.items() if mode.startswith("pooling_mode_") and on]
    shape = [m["type"].removeprefix("sentence_transformers.models.") for m in modules]
    if shape not in _PLAIN_MODULES or modes not in (["mean"], ["cls"]):
        return None
    if not (folder / "tokenizer.json").is_file():
        return None
    return Recipe(modes[0], int(limits.get("max_seq_length") or 512), bool(limits.get("do_lower_case")))


class OnnxEncoder:
    """Unit-length sentence vectors from an ONNX export, as sentence-transformers computes them."""

    def __init__(self, model_file: Path, folder: Path, recipe: Recipe, batch_size: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: no provider notices on the terminal
        self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(recipe.max_tokens)
        self.tokenizer.no_padding()
        self.recipe = recipe
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        """Batches of similar length, as sentence-transformers forms them, so little is padding."""
        if self.recipe.lowercase:
            texts = [text.lower() for text in texts]
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        vectors = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            pooled = self._pooled([encodings[i] for i in batch])
            if vectors.shape[1] == 0:
                vectors = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            vectors[batch] = pooled
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _pooled(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        feed = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in self.inputs}
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            feed["input_ids"][row, :n] = encoding.ids
            feed["attention_mask"][row, :n] = 1
            if "token_type_ids" in feed:
                feed["token_type_ids"][row, :n] = encoding.type_ids
        states = self.session.run(None, feed)[0]
        if self.recipe.pooling == "cls":
            return np.asarray(states[:, 0], dtype=np.float32)
        mask = feed["attention_mask"][..., None].astype(np.float32)
        return np.asarray((states * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9), dtype=np.float32)


def export_path(folder: Path, cache_dir: Path) -> Path | None:
    """The export of ``folder``, named by its weights' size and time (a changed model is exported anew);
    None when the folder has no weights file to export."""
    weights = next((folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()), None)
    if weights is None:
        return None
    stat = weights.stat()
    return cache_dir / f"{folder.name}-{stat.st_size:x}-{stat.st_mtime_ns:x}.onnx"


def load_onnx_encoder(folder: Path, cache_dir: Path, batch_size: int) -> OnnxEncoder | None:
    """The ONNX encoder of ``folder``, exported and checked on first use; None when the model's shape or
    weights have no checked export."""
    recipe = read_recipe(folder)
    target = export_path(folder, cache_dir)
    if recipe is None or target is None:
        return None
    failed = target.with_suffix(".failed")
    if failed.is_file():
        return None
    if not target.is_file():
        try:
            _export_checked(folder, target, recipe)
        except Exception as err:  # a model torch cannot trace, or one that embeds differently: not tried again
            failed.write_text(f"{type(err).__name__}: {err}\n")
            return None
    return OnnxEncoder(target, folder, recipe, batch_size)


def _export_checked(folder: Path, target: Path, recipe: Recipe) -> None:
    """Export ``folder``'s transformer and keep it only if it embeds ``CHECK_TEXTS`` as sentence-transformers
    does; written beside ``target`` and renamed, so no process ever reads half a file."""
    import torch

    model = load_sentence_transformer(folder)
    first: Any = model[0]  # the Transformer module
    transformer = first.auto_model.eval()
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in _parameters(transformer)]

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.transformer(**dict(zip(names, inputs, strict=True))).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial_name = tempfile.mkstemp(dir=target.parent, suffix=".onnx.partial")
    os.close(handle)
    partial = Path(partial_name)
    try:
        with warnings.catch_warnings():  # the TorchScript exporter's notices are not the user's concern
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(),
                tuple(torch.ones(1, 8, dtype=torch.long) for _ in names),
                str(partial),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        got = OnnxEncoder(partial, folder, recipe, batch_size=8).encode(CHECK_TEXTS)
        want = model.encode(CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
        worst = float(np.min(np.sum(got * want, axis=1)))
        if worst < MIN_CHECK_COSINE:
            raise ValueError(f"the ONNX export embeds differently from the model (cosine {worst:.6f})")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def load_sentence_transformer(folder: Path) -> Any:
    """The model as sentence-transformers loads it, without transformers' progress bars on the terminal."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return SentenceTransformer(str(folder), device="cpu", local_files_only=True)


def _parameters(module: Any) -> set[str]:
    return set(inspect.signature(module.forward).parameters)
