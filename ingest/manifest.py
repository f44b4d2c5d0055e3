"""What has been ingested: one record per (domain, path) with its content hash and chunk ids.

The manifest is written only after a document's chunks are in the index, so a
run killed at any point leaves it describing documents that are fully indexed;
re-running then redoes exactly the unfinished files. It lives beside the index:
in SQLite in the data home here, on the Chroma server (``ingest.server_manifest``)
when the index is there, so that every replica sees what any of them ingested.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    domain      TEXT NOT NULL,
    path        TEXT NOT NULL,
    source      TEXT NOT NULL,
    title       TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    chunk_ids   TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    encoding    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (domain, path)
)
"""
_ADDED_COLUMNS = {"encoding": "ALTER TABLE documents ADD COLUMN encoding TEXT NOT NULL DEFAULT ''"}


_COLUMNS = "domain, path, source, title, sha256, chunk_ids, ingested_at, encoding"


@dataclass(frozen=True)
class DocumentRecord:
    domain: str
    path: str
    source: str
    title: str
    sha256: str
    chunk_ids: tuple[str, ...]
    ingested_at: str = ""
    encoding: str = ""  # what a text file was read in; "" for PDF and DOCX, and for records older than it


class Manifest(Protocol):
    """``put`` stamps records with the time now; a record replaces the one at its (domain, path)."""

    def get(self, domain: str, path: str) -> DocumentRecord | None: ...
    def records(self, domain: str) -> list[DocumentRecord]: ...  # sorted by path
    def domains(self) -> list[str]: ...
    def put(self, records: list[DocumentRecord]) -> None: ...
    def delete(self, domain: str, path: str) -> None: ...
    def close(self) -> None: ...


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalManifest:
    """The manifest in an SQLite file of the data home."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
        for column, alter in _ADDED_COLUMNS.items():
            if column not in present:  # a manifest written before the column existed
                self._db.execute(alter)
        self._db.commit()

    def get(self, domain: str, path: str) -> DocumentRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM documents WHERE domain=? AND path=?",
            (domain, path),
        ).fetchone()
        return _record(row) if row else None

    def records(self, domain: str) -> list[DocumentRecord]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM documents WHERE domain=? ORDER BY path",
            (domain,),
        ).fetchall()
        return [_record(row) for row in rows]

    def domains(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT domain FROM documents ORDER BY domain")]

    def put(self, records: list[DocumentRecord]) -> None:
        at = now()
        with self._db:
            self._db.executemany(
                f"INSERT OR REPLACE INTO documents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.domain, r.path, r.source, r.title, r.sha256, json.dumps(list(r.chunk_ids)), at, r.encoding)
                    for r in records
                ],
            )

    def delete(self, domain: str, path: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM documents WHERE domain=? AND path=?", (domain, path))

    def close(self) -> None:
        self._db.close()


def _record(row: tuple[str, str, str, str, str, str, str, str]) -> DocumentRecord:
    domain, path, source, title, sha256, chunk_ids, ingested_at, encoding = row
    return DocumentRecord(domain, path, source, title, sha256, tuple(json.loads(chunk_ids)), ingested_at, encoding)
