"""BM25 over each domain's chunks (bm25s), kept in step with the vector index.

The lexical index is derived data: it is rebuilt from the chunks in Chroma
whenever their set of ids changed, and it records a fingerprint of that set,
so that a run killed before the rebuild is caught by the next ingest or by
``ingest verify``. Exact words (error codes, option names, clause numbers) are
what it finds that embeddings miss.

Each build is a folder of its own, published by swapping the symlink ``<domain>`` onto it in one atomic
rename, so a reader (another process too) opens either the whole old index or the whole new one. The
build before stays until the next publish, for a reader that opened it just before the swap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ingest.indexed_text import indexed_text
from ingest.store import Index

_FINGERPRINT = "fingerprint.json"
_IDS = "chunk_ids.json"
_LOAD_ATTEMPTS = 5


def fingerprint(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)


class LexicalIndex:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._loaded: dict[str, tuple[str, object, list[str], dict[str, int]]] = {}

    def fingerprint(self, domain: str) -> str:
        """The fingerprint of the chunk ids indexed; no index on disk holds the empty set."""
        path = self._published(domain) / _FINGERPRINT
        return str(json.loads(path.read_text())["ids"]) if path.is_file() else fingerprint([])

    def rebuild(self, domain: str, ids: list[str], texts: list[str]) -> None:
        """Index ``texts`` under ``ids`` in a new folder, then publish it atomically (writers hold the lock)."""
        import bm25s

        self.root.mkdir(parents=True, exist_ok=True)
        before = self._published(domain)
        building = Path(tempfile.mkdtemp(prefix=f".{domain}.", dir=self.root))
        if ids:
            retriever = bm25s.BM25()
            retriever.index(tokenize(texts), show_progress=False)
            retriever.save(str(building), show_progress=False)
            (building / _IDS).write_text(json.dumps(ids))
            (building / _FINGERPRINT).write_text(json.dumps({"ids": fingerprint(ids), "chunks": len(ids)}))
        link = self.root / domain
        if link.is_dir() and not link.is_symlink():  # an index from before builds were published by symlink
            link.rename(link.with_name(f".{domain}.unpublished"))
        pointer = self.root / f".{domain}.pointer"
        pointer.unlink(missing_ok=True)
        pointer.symlink_to(building.name, target_is_directory=True)
        os.replace(pointer, link)
        self._drop_builds(domain, keep={building, before})
        self._loaded.pop(domain, None)

    def _published(self, domain: str) -> Path:
        """The folder readers see for ``domain``, resolved once so that every file comes from one build."""
        return (self.root / domain).resolve()

    def _drop_builds(self, domain: str, keep: set[Path]) -> None:
        for build in self.root.glob(f".{domain}.*"):
            if build.is_dir() and not build.is_symlink() and build.resolve() not in keep:
                shutil.rmtree(build, ignore_errors=True)

    def search(self, domain: str, question: str, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Chunk ids with a positive BM25 score, best first; ``allowed`` restricts the candidates."""
        loaded = self._load(domain)
        if loaded is None:
            return []
        _, retriever, ids, rows = loaded
        query = tokenize([question])
        if not query[0]:
            return []
        mask = None
        if allowed is not None:
            mask = np.zeros(len(ids), dtype=np.float32)
            mask[[rows[i] for i in allowed if i in rows]] = 1.0
        found, scores = retriever.retrieve(  # type: ignore[attr-defined]
            query, k=min(k, len(ids)), show_progress=False, weight_mask=mask
        )
        return [(ids[int(row)], float(score)) for row, score in zip(found[0], scores[0], strict=True) if score > 0]

    def _load(self, domain: str) -> tuple[str, object, list[str], dict[str, int]] | None:
        """The published build, loaded once per build. A build that vanishes while it loads was replaced twice
        meanwhile: the newest one is loaded instead."""
        for _ in range(_LOAD_ATTEMPTS - 1):
            with contextlib.suppress(FileNotFoundError):
                return self._load_published(domain)
        return self._load_published(domain)

    def _load_published(self, domain: str) -> tuple[str, object, list[str], dict[str, int]] | None:
        import bm25s

        build = self._published(domain)
        if not (build / _FINGERPRINT).is_file():
            return None
        current = str(json.loads((build / _FINGERPRINT).read_text())["ids"])
        cached = self._loaded.get(domain)
        if cached is None or cached[0] != current:
            retriever = bm25s.BM25.load(str(build), show_progress=False)
            ids = json.loads((build / _IDS).read_text())
            cached = (current, retriever, ids, {chunk_id: n for n, chunk_id in enumerate(ids)})
            self._loaded[domain] = cached
        return cached


def sync_lexical(domain: str, index: Index, lexical: LexicalIndex) -> bool:
    """Rebuild the domain's BM25 index if the vector index's chunk ids changed; True if it did."""
    if lexical.fingerprint(domain) == fingerprint(index.all_ids(domain)):
        return False
    ids, texts, metadatas = index.chunks(domain)
    indexed = [
        indexed_text(text, str(m["title"]), str(m.get("summary", ""))) for text, m in zip(texts, metadatas, strict=True)
    ]
    lexical.rebuild(domain, ids, indexed)
    return True
