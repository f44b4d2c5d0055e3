"""Paths → documents → chunks → vectors → index, incrementally, one domain at a time.

A chunk's id is a hash of its domain, file and text, so a changed file keeps
the ids (and vectors) of its unchanged chunks: only new text is embedded, and
only vanished text is deleted. Chunks of many files are embedded together in
large batches; the manifest is written after the index, file by file.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.core.config import Settings
from assistant.core.errors import UserError
from ingest.chunker import Chunk, chunk_document
from ingest.documents import SUPPORTED_SUFFIXES, load_document
from ingest.indexed_text import INDEX_RECIPE, indexed_text
from ingest.lexical import LexicalIndex, sync_lexical
from ingest.manifest import DocumentRecord, Manifest
from ingest.store import Index, check_domain_name

ProgressCallback = Callable[[int, int, int], None]
"""Called after each file with (files done, files in all, chunks added so far)."""

_FLUSH_CHUNKS = 256  # embed in batches this large: per-file batches waste most of the model's time


@dataclass
class IngestSummary:
    domain: str
    files_added: int = 0
    files_updated: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_failed: list[dict[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0

    def common_failure(self) -> tuple[str, int] | None:
        """The reason more than half of the files given failed for, and how many: said once, it is the news."""
        if not self.files_failed:
            return None
        given = self.files_added + self.files_updated + self.files_unchanged + len(self.files_failed)
        reason, count = Counter(failure["error"] for failure in self.files_failed).most_common(1)[0]
        return (reason, count) if count > given / 2 else None


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute: the document's identity in the manifest
    source: str  # the name shown in citations, relative to what the user gave


@dataclass
class _Prepared:
    record: DocumentRecord
    is_new: bool
    texts: dict[str, str]  # chunk id → text, only for chunks not yet in the index
    indexed: list[str]  # what is embedded for those chunks (``indexed_text``)
    metadatas: dict[str, dict[str, Any]]
    stale_ids: list[str]


def discover(paths: Sequence[Path], within: Sequence[Path] | None = None) -> list[SourceFile]:
    """Supported files, named directly or under directories (no hidden ones, no symlink loops). With ``within``,
    every file, once its symlinks and ``..`` are resolved, must lie under one of those folders (checked first, so
    that nothing tells whether a path outside them exists)."""
    if within is not None:
        confine(paths, within)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UserError(f"path not found: {', '.join(missing)}")
    unsupported = [str(p) for p in paths if p.is_file() and p.suffix.lower() not in SUPPORTED_SUFFIXES]
    if unsupported:
        kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UserError(f"not a document type that can be ingested: {', '.join(unsupported)} (supported: {kinds})")
    found: dict[Path, SourceFile] = {}
    for given in paths:
        root = given.resolve()
        if root.is_file():
            found.setdefault(root, SourceFile(root, root.name))
            continue
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                path = Path(directory, name)
                if name.startswith(".") or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                found.setdefault(path, SourceFile(path, path.relative_to(root).as_posix()))
    if within is not None:
        confine(list(found), within)
    return list(found.values())


def confine(files: Sequence[Path], roots: Sequence[Path]) -> None:
    """Refuse the whole request when any file really lives outside ``roots``: nothing is read from there."""
    allowed = [root.expanduser().resolve() for root in roots]
    if not allowed:
        raise UserError("reading folders of the server is off: an admin lists them in ingest.allowed_roots")
    outside = [str(f) for f in files if not any(f.expanduser().resolve().is_relative_to(r) for r in allowed)]
    if outside:
        shown = ", ".join(outside[:3]) + (f" and {len(outside) - 3} more" if len(outside) > 3 else "")
        roots_named = ", ".join(str(root) for root in allowed)
        raise UserError(f"outside the folders this server may read ({roots_named}): {shown}")


def ingest_files(
    files: Sequence[SourceFile],
    domain: str,
    *,
    index: Index,
    manifest: Manifest,
    lexical: LexicalIndex,
    settings: Settings,
    prune_under: Sequence[Path] = (),
    within: Sequence[Path] | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestSummary:
    """Index ``files`` (from ``discover``) into ``domain``, re-embedding only changed chunks; with ``prune_under``,
    forget the domain's documents under those paths that are gone; with ``within``, read only files that lie
    under those folders when they are read."""
    started = time.perf_counter()
    check_domain_name(domain)
    summary = IngestSummary(domain)
    pending: list[_Prepared] = []
    for done, file in enumerate(files, start=1):
        try:
            prepared = _prepare(file, domain, index, manifest, settings, within)
        except Exception as err:  # one bad file must never stop the batch
            summary.files_failed.append({"path": str(file.path), "error": _reason(err)})
        else:
            if prepared is None:
                summary.files_unchanged += 1
            else:
                pending.append(prepared)
                if sum(len(p.texts) for p in pending) >= _FLUSH_CHUNKS:
                    _flush(pending, domain, index, manifest, summary)
        if on_progress:
            on_progress(done, len(files), summary.chunks_added + sum(len(p.texts) for p in pending))
    _flush(pending, domain, index, manifest, summary)
    if prune_under:
        _prune(prune_under, {f.path for f in files}, domain, index, manifest, summary)
    sync_lexical(domain, index, lexical)  # also catches up after a run killed before its rebuild
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _read(path: Path, within: Sequence[Path] | None, max_mb: float) -> bytes:
    """The bytes of the file this process opened. With ``within``, the opened file must lie under those folders:
    ``discover`` checked the path, but a file can be swapped for a symlink to ``/etc`` before it is read."""
    with path.open("rb") as handle:
        if within is not None:
            confine([_opened_path(handle.fileno(), path)], within)
        size_mb = os.fstat(handle.fileno()).st_size / 1e6
        if size_mb > max_mb:
            raise UserError(f"file is {size_mb:.3g} MB, over the {max_mb:g} MB limit (ingest.max_file_mb)")
        return handle.read()


def _opened_path(fd: int, path: Path) -> Path:
    """Where the open file really is: Linux names it under /proc; elsewhere, the path resolved now."""
    proc = Path(f"/proc/self/fd/{fd}")
    return Path(os.readlink(proc)) if proc.is_symlink() else path.resolve()


def _prepare(
    file: SourceFile,
    domain: str,
    index: Index,
    manifest: Manifest,
    settings: Settings,
    within: Sequence[Path] | None = None,
) -> _Prepared | None:
    """Chunk a new or changed file; ``None`` when the manifest already has this content."""
    raw = _read(file.path, within, settings.ingest.max_file_mb)
    digest = hashlib.sha256(raw).hexdigest()
    # The manifest's key is the content under this index recipe: a new recipe re-indexes the file once.
    content_key = f"{digest}:{INDEX_RECIPE}"
    previous = manifest.get(domain, str(file.path))
    if previous and previous.sha256 == content_key:
        return None
    document = load_document(file.path, raw, settings.ingest.max_unpacked_mb)
    chunking = settings.chunking
    # The embedder also reads the document's title and summary before each chunk: leave them room.
    lead_tokens = index.embedder.count_tokens([indexed_text("", document.title, document.summary)])[0]
    max_tokens = min(chunking.max_tokens, index.embedder.max_tokens - lead_tokens)
    chunks = chunk_document(document, index.embedder.count_tokens, max_tokens, chunking.overlap_tokens)
    ids = _chunk_ids(domain, file.path, chunks)
    # Chunks already in the index (same text, or left by an interrupted run) are not embedded again.
    already = index.existing_ids(domain, ids)
    new = [(chunk_id, chunk) for chunk_id, chunk in zip(ids, chunks, strict=True) if chunk_id not in already]
    old_ids = set(previous.chunk_ids) if previous else set()
    return _Prepared(
        record=DocumentRecord(
            domain, str(file.path), file.source, document.title, content_key, tuple(ids), encoding=document.encoding
        ),
        is_new=previous is None,
        texts={chunk_id: chunk.text for chunk_id, chunk in new},
        indexed=[indexed_text(chunk.text, document.title, document.summary) for _, chunk in new],
        metadatas={
            chunk_id: {
                "domain": domain,
                "source": file.source,
                "path": str(file.path),
                "title": document.title,
                "summary": document.summary,
                "section": chunk.section,
                "chunk_index": chunk.index,
                "doc_sha256": digest,
                **({"page": chunk.page} if chunk.page is not None else {}),
            }
            for chunk_id, chunk in new
        },
        stale_ids=sorted(old_ids - set(ids)),
    )


def _chunk_ids(domain: str, path: Path, chunks: list[Chunk]) -> list[str]:
    seen: dict[str, int] = {}
    ids = []
    for chunk in chunks:
        occurrence = seen.get(chunk.text, 0)
        seen[chunk.text] = occurrence + 1
        key = f"{domain}\0{path}\0{occurrence}\0{INDEX_RECIPE}\0{chunk.text}".encode()
        ids.append(hashlib.sha256(key).hexdigest()[:32])
    return ids


def _flush(pending: list[_Prepared], domain: str, index: Index, manifest: Manifest, summary: IngestSummary) -> None:
    """Embed and store the pending files' chunks, then record the files: index first, manifest last."""
    ids = [chunk_id for p in pending for chunk_id in p.texts]
    if ids:
        texts = [text for p in pending for text in p.texts.values()]
        metadatas = [meta for p in pending for meta in p.metadatas.values()]
        vectors = index.embedder.embed([text for p in pending for text in p.indexed])
        index.add(domain, ids, texts, metadatas, vectors)
    stale = [chunk_id for p in pending for chunk_id in p.stale_ids]
    index.delete(domain, stale)
    manifest.put([p.record for p in pending])
    summary.chunks_added += len(ids)
    summary.chunks_removed += len(stale)
    summary.files_added += sum(p.is_new for p in pending)
    summary.files_updated += sum(not p.is_new for p in pending)
    pending.clear()


def _prune(
    roots: Sequence[Path],
    present: set[Path],
    domain: str,
    index: Index,
    manifest: Manifest,
    summary: IngestSummary,
) -> None:
    """Forget documents of the domain that were under the given paths and are gone now."""
    resolved = [root.resolve() for root in roots]
    for record in manifest.records(domain):
        path = Path(record.path)
        under_roots = any(path == root or path.is_relative_to(root) for root in resolved)
        if under_roots and path not in present:
            forget(record, index, manifest)
            summary.files_removed += 1
            summary.chunks_removed += len(record.chunk_ids)


def forget(record: DocumentRecord, index: Index, manifest: Manifest) -> None:
    """Remove a document: its chunks first, then its manifest row, so a crash leaves it re-removable."""
    index.delete(record.domain, record.chunk_ids)
    manifest.delete(record.domain, record.path)


def _reason(err: Exception) -> str:
    if isinstance(err, UserError):
        return str(err)
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return f"{type(err).__name__}: {err}"
