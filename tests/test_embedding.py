"""The embedding model on onnxruntime: the same vectors as sentence-transformers, and a cold path without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ingest.embedder
from assistant.core.config import load_settings
from ingest.documents import load_document
from ingest.embedder import ChromaEmbedding, Embedder, load_embedder

from .conftest import SAMPLES

# What a process that only asks must not import: the training stack. (scipy comes with BM25's sparse matrices.)
HEAVY_MODULES = ["torch", "transformers", "sentence_transformers", "peft", "bitsandbytes", "sklearn"]


def _sample_texts() -> list[str]:
    texts = []
    for path in sorted((SAMPLES / "corpus" / "support").iterdir())[:4]:
        texts += [block.text for block in load_document(path).blocks]
    return [*texts, "How do I reset the N300?", "x " * 600, ""]


@pytest.mark.model
def test_the_default_model_embeds_on_onnxruntime_as_sentence_transformers_does(home: Path) -> None:
    settings = load_settings(home=home)
    fast = Embedder.from_settings(settings)
    reference = load_embedder(fast.path, fast.model_id)  # no export folder: sentence-transformers itself
    assert (fast.runtime, reference.runtime) == ("onnxruntime", "sentence-transformers")
    assert list(settings.models_dir.glob("*.onnx")), "the export is kept in the data home's models folder"
    texts = _sample_texts()
    cosines = np.sum(fast.embed(texts) * reference.embed(texts), axis=1)
    assert cosines.min() > 0.9999, cosines.min()
    assert fast.count_tokens(texts) == reference.count_tokens(texts)
    assert (fast.dimension, fast.max_tokens) == (reference.dimension, reference.max_tokens) == (384, 256)


@pytest.mark.model
def test_a_model_of_another_shape_stays_on_sentence_transformers(home: Path, tmp_path: Path) -> None:
    """Max pooling has no ONNX recipe here: the model runs as sentence-transformers builds it, and nothing is
    exported."""
    settings = load_settings(home=home)
    original = Embedder.from_settings(settings).path
    folder = tmp_path / "max-pooled"
    folder.mkdir()
    for item in original.iterdir():
        if item.name != "1_Pooling":
            (folder / item.name).symlink_to(item)
    (folder / "1_Pooling").mkdir()
    pooling = json.loads((original / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    exports = set(settings.models_dir.glob("*.onnx"))
    embedder = load_embedder(folder, "max-pooled", 32, settings.models_dir)
    assert embedder.runtime == "sentence-transformers"
    assert set(settings.models_dir.glob("*.onnx")) == exports
    vector = embedder.embed(["How do I reset the N300?"])[0]
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


@pytest.mark.model
def test_ingest_into_a_new_domain_imports_no_training_library(home: Path) -> None:
    """Creating a collection makes Chroma rebuild the embedding function from its config: it reuses the
    loaded embedder, so a new process ingesting a document (once the export exists) loads no torch."""
    Embedder.from_settings(load_settings(home=home))  # the export, made once per models folder
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from assistant.core.config import load_settings\n"
        "from assistant.runtime import Runtime\n"
        f"runtime = Runtime(load_settings(home=Path({str(home)!r})))\n"
        f"runtime.ingest([Path({str(SAMPLES / 'corpus' / 'support' / 'factory-reset.md')!r})], 'support')\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_a_cold_ask_imports_no_training_or_eval_library(sample_home: Path) -> None:
    """A new process answering one question, as a user runs it, loads none of the training stack."""
    script = (
        "import json, sys\n"
        "from assistant.cli.main import main\n"
        f"sys.argv = ['assistant', 'ask', 'How do I reset the N300?', '--json', '--home', {str(sample_home)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit_:\n    assert not exit_.code, exit_.code\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env={**os.environ}, check=True
    )
    assert json.loads(done.stdout)["citations"], done.stdout
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


@pytest.mark.model
def test_chroma_rebuilds_the_embedder_the_settings_describe_and_the_runtime_reuses_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma rebuilds its function from a collection's stored config, maybe before the runtime loads the model: it
    must be the settings' embedder (ONNX runtime, their batch size), so the process never holds a second model."""
    settings = load_settings(home=home, embedding={"batch_size": 8})
    monkeypatch.setattr(ingest.embedder, "_loaded", {})  # a process whose first embedder has these settings
    stored = ChromaEmbedding(Embedder.from_settings(settings)).get_config()
    monkeypatch.setattr(ingest.embedder, "_loaded", {})  # a fresh process that opens the collection first

    rebuilt = ChromaEmbedding.build_from_config(stored).embedder
    assert (rebuilt.runtime, rebuilt.batch_size) == ("onnxruntime", 8)
    assert Embedder.from_settings(settings) is rebuilt
    assert len(ingest.embedder._loaded) == 1
