"""The manifest and the index's generation on the Chroma server, for replicas that share one.

One collection holds a record per (domain, path), as the metadata of an entry whose id hashes the pair;
Chroma stores nothing without a vector, so each carries a one-number placeholder that no query reads. The
collection's own metadata holds the generation that every write stamps: a replica that sees it change knows
another one wrote, and brings its BM25 index up to date from the chunks on the server.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ingest.manifest import DocumentRecord, LocalManifest, now
from ingest.store import Index

COLLECTION = "assistant_manifest"  # beside the domains' collections, whose names all start with "domain_"
_PLACEHOLDER = [1.0]


class ServerManifest:
    def __init__(self, index: Index, adopting: Path | None = None) -> None:
        """The manifest on ``index``'s server. ``adopting``: the SQLite manifest a home kept while only its
        vectors were on the server; its records of documents whose chunks are all there move to the server."""
        self._client = index.client
        self._collection = self._client.get_or_create_collection(COLLECTION, embedding_function=None)
        if adopting is not None and adopting.is_file():
            self._adopt(adopting, index)

    def _adopt(self, local: Path, index: Index) -> None:
        old = LocalManifest(local)
        try:
            records = [record for domain in old.domains() for record in old.records(domain)]
        finally:
            old.close()
        self.put(
            [
                r
                for r in records
                if self.get(r.domain, r.path) is None and index.existing_ids(r.domain, r.chunk_ids) == set(r.chunk_ids)
            ]
        )
        local.rename(local.with_name(local.name + ".moved-to-server"))

    def get(self, domain: str, path: str) -> DocumentRecord | None:
        found = self._collection.get(ids=[_id(domain, path)], include=["metadatas"])
        return _record(found["metadatas"][0]) if found["metadatas"] else None

    def records(self, domain: str) -> list[DocumentRecord]:
        found = self._collection.get(where={"domain": domain}, include=["metadatas"])
        return sorted((_record(meta) for meta in found["metadatas"] or []), key=lambda r: r.path)

    def domains(self) -> list[str]:
        found = self._collection.get(include=["metadatas"])
        return sorted({str(meta["domain"]) for meta in found["metadatas"] or []})

    def put(self, records: list[DocumentRecord]) -> None:
        if not records:
            return
        stamp = now()
        self._collection.upsert(
            ids=[_id(r.domain, r.path) for r in records],
            embeddings=[_PLACEHOLDER for _ in records],  # type: ignore[arg-type]  # Chroma's stubs miss list[list]
            metadatas=[
                {
                    "domain": r.domain,
                    "path": r.path,
                    "source": r.source,
                    "title": r.title,
                    "sha256": r.sha256,
                    "chunk_ids": json.dumps(list(r.chunk_ids)),
                    "ingested_at": stamp,
                    "encoding": r.encoding,
                }
                for r in records
            ],
        )

    def delete(self, domain: str, path: str) -> None:
        self._collection.delete(ids=[_id(domain, path)])

    def close(self) -> None:
        """Nothing to close: the client belongs to the index."""

    def generation(self) -> str:
        """The generation the last write stamped, from any replica ("" before the first)."""
        metadata = self._client.get_collection(COLLECTION, embedding_function=None).metadata or {}
        return str(metadata.get("generation", ""))

    def stamp(self, generation: str) -> None:
        self._collection.modify(metadata={"generation": generation})


def _id(domain: str, path: str) -> str:
    return hashlib.sha256(f"{domain}\n{path}".encode()).hexdigest()


def _record(meta: Any) -> DocumentRecord:
    return DocumentRecord(
        domain=str(meta["domain"]),
        path=str(meta["path"]),
        source=str(meta["source"]),
        title=str(meta["title"]),
        sha256=str(meta["sha256"]),
        chunk_ids=tuple(json.loads(str(meta["chunk_ids"]))),
        ingested_at=str(meta["ingested_at"]),
        encoding=str(meta.get("encoding", "")),  # absent from records older than it
    )
