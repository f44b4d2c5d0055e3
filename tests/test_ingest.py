"""Ingest into a real Chroma index: incremental, pruning, per-file failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.core.errors import UserError
from assistant.runtime import Runtime
from ingest.embedder import load_embedder
from ingest.pipeline import IngestSummary
from ingest.store import Index

from .conftest import SAMPLES


def _ingest(runtime: Runtime, paths: list[Path], domain: str = "support", prune: bool = False) -> IngestSummary:
    return runtime.ingest(paths, domain, prune=prune)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    shutil.copytree(SAMPLES / "corpus" / "support", folder)
    return folder


def _sources(runtime: Runtime, domain: str, question: str, k: int = 50) -> set[str]:
    return {p.source for p in runtime.index.search(domain, runtime.embedder.embed_query(question), k)}


def test_ingest_indexes_every_file_with_its_metadata(runtime: Runtime, corpus: Path) -> None:
    summary = _ingest(runtime, [corpus])
    assert summary.files_added == 8 and not summary.files_failed
    assert summary.chunks_added == runtime.index.count("support") > 8
    best = runtime.index.search("support", runtime.embedder.embed_query("reset pinhole paper clip"), 1)[0]
    assert best.source == "factory-reset.md"
    assert best.section == "Factory reset of the Nimbus N300 > Resetting a unit"
    assert best.title == "Factory reset of the Nimbus N300" and best.domain == "support"
    nested = corpus / "sub"
    nested.mkdir()
    (nested / "extra.md").write_text("# Extra\n\nThe N300 fan is silent.\n")
    assert _ingest(runtime, [corpus]).files_added == 1
    assert "sub/extra.md" in _sources(runtime, "support", "fan")


def test_reingest_of_unchanged_files_embeds_nothing(runtime: Runtime, corpus: Path) -> None:
    first = _ingest(runtime, [corpus])
    again = _ingest(runtime, [corpus])
    assert (again.files_unchanged, again.files_added, again.files_updated) == (8, 0, 0)
    assert again.chunks_added == again.chunks_removed == 0
    assert runtime.index.count("support") == first.chunks_added


def test_changed_file_replaces_only_its_changed_chunks(runtime: Runtime, corpus: Path) -> None:
    _ingest(runtime, [corpus])
    before = runtime.index.count("support")
    page = corpus / "guest-network.md"
    page.write_text(page.read_text().replace("up to 32 devices", "up to 64 devices"))

    summary = _ingest(runtime, [corpus])
    assert (summary.files_updated, summary.files_unchanged) == (1, 7)
    assert summary.chunks_added == summary.chunks_removed == 1
    assert runtime.index.count("support") == before
    text = " ".join(runtime.index.chunks("support")[1])
    assert "64 devices" in text and "32 devices" not in text


def test_prune_forgets_deleted_files_and_only_those(runtime: Runtime, corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.md"
    other.write_text("# Other\n\nA document outside the pruned folder.\n")
    _ingest(runtime, [corpus, other])
    (corpus / "parental-controls.md").unlink()

    kept = _ingest(runtime, [corpus])
    assert kept.files_removed == 0  # without --prune nothing is forgotten
    summary = _ingest(runtime, [corpus], prune=True)
    assert summary.files_removed == 1 and summary.chunks_removed > 0
    assert "parental-controls.md" not in _sources(runtime, "support", "parental controls bedtime")
    assert "other.md" in _sources(runtime, "support", "document outside the pruned folder")


def test_bad_files_are_reported_and_good_ones_still_ingested(runtime: Runtime, corpus: Path) -> None:
    (corpus / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (corpus / "noise.txt").write_bytes(bytes((n * 7919) % 128 + 128 for n in range(200)))
    summary = _ingest(runtime, [corpus])
    failed = {Path(f["path"]).name: f["error"] for f in summary.files_failed}
    assert failed == {
        "image.md": "binary content, not a text document",
        "noise.txt": "not text in any encoding found (neither UTF-8 nor a legacy code page)",
    }
    assert summary.files_added == 8


def test_missing_path_is_refused_before_anything_is_written(runtime: Runtime, corpus: Path) -> None:
    with pytest.raises(UserError, match=r"path not found: .*nowhere"):
        _ingest(runtime, [corpus, corpus / "nowhere"])
    assert runtime.index.domains() == []


def test_invalid_domain_name_is_refused(runtime: Runtime, corpus: Path) -> None:
    with pytest.raises(UserError, match="invalid domain name"):
        _ingest(runtime, [corpus], domain="Bad Name!")


def test_index_built_with_another_embedding_model_is_refused(runtime: Runtime, corpus: Path) -> None:
    _ingest(runtime, [corpus])
    impostor = load_embedder(runtime.embedder.path, "some-other-model")
    with pytest.raises(UserError, match=r"indexed with embedding model .sentence-transformers/all-MiniLM-L6-v2."):
        Index(runtime.settings.index_dir / "chroma", impostor).count("support")
