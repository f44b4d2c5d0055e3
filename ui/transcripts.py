"""What the chat showed, kept per conversation thread, and what users thought of it.

The graph's checkpoint keeps what the *model* needs of a conversation (earlier questions, for
follow-ups); this keeps what the *reader* saw: every answer with its route, grade and cited passages,
and the base model's answer beside it when the turn was compared. A reload, or another browser,
shows the thread exactly as it was answered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from assistant.core.results import AnswerResult

Rating = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    thread TEXT NOT NULL,
    position INTEGER NOT NULL,
    user TEXT,
    created_at TEXT NOT NULL,
    result TEXT NOT NULL,
    compared TEXT,
    PRIMARY KEY (thread, position)
);
CREATE TABLE IF NOT EXISTS feedback (
    thread TEXT NOT NULL,
    position INTEGER NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    rated_at TEXT NOT NULL,
    PRIMARY KEY (thread, position),
    FOREIGN KEY (thread, position) REFERENCES turns (thread, position)
);
"""


@dataclass(frozen=True)
class StoredTurn:
    thread: str
    position: int
    user: str | None
    created_at: str
    result: AnswerResult
    compared: AnswerResult | None  # the same question answered by the base model, when compared
    rating: Rating | None


@dataclass(frozen=True)
class ThreadSummary:
    thread: str
    title: str  # its first question
    turns: int
    updated_at: str


class Transcripts:
    """A small SQLite file; a connection per call, so every Streamlit session thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def add_turn(self, thread: str, user: str | None, result: AnswerResult, compared: AnswerResult | None) -> int:
        """The turn's position in its thread: taken in the same statement that writes it, so two sessions
        answering on one thread at once each get their own."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock before the read: no other writer reads the same MAX
            (position,) = db.execute(
                "INSERT INTO turns SELECT ?, COALESCE(MAX(position) + 1, 0), ?, ?, ?, ? FROM turns WHERE thread = ? "
                "RETURNING position",
                (thread, user, _now(), result.model_dump_json(), compared and compared.model_dump_json(), thread),
            ).fetchone()
        return int(position)

    def turns(self, thread: str) -> list[StoredTurn]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT t.thread, t.position, t.user, t.created_at, t.result, t.compared, f.rating FROM turns t "
                "LEFT JOIN feedback f USING (thread, position) WHERE t.thread = ? ORDER BY t.position",
                (thread,),
            ).fetchall()
        return [_turn(row) for row in rows]

    def threads(self, user: str | None) -> list[ThreadSummary]:
        """The user's conversations, the latest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT thread, COUNT(*), MAX(created_at), "
                "(SELECT json_extract(result, '$.question') FROM turns f WHERE f.thread = t.thread AND position = 0) "
                "FROM turns t WHERE user IS ? GROUP BY thread ORDER BY MAX(created_at) DESC",
                (user,),
            ).fetchall()
        return [ThreadSummary(thread, title, count, updated) for thread, count, updated, title in rows]

    def rate(self, thread: str, position: int, rating: Rating | None) -> None:
        """Thumbs up or down on a turn; None takes the rating back."""
        with self._connect() as db:
            if rating is None:
                db.execute("DELETE FROM feedback WHERE thread = ? AND position = ?", (thread, position))
            else:
                db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?)", (thread, position, rating, _now()))

    def rated(self, user: str | None = None) -> list[StoredTurn]:
        """Every rated turn (of ``user``, when given), oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT t.thread, t.position, t.user, t.created_at, t.result, t.compared, f.rating FROM turns t "
                "JOIN feedback f USING (thread, position) WHERE ? IS NULL OR t.user = ? "
                "ORDER BY f.rated_at, t.thread, t.position",
                (user, user),
            ).fetchall()
        return [_turn(row) for row in rows]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:  # one transaction
                yield db
        finally:
            db.close()


def _turn(row: tuple[str, int, str | None, str, str, str | None, Rating | None]) -> StoredTurn:
    thread, position, user, created_at, result, compared, rating = row
    return StoredTurn(
        thread,
        position,
        user,
        created_at,
        AnswerResult.model_validate_json(result),
        AnswerResult.model_validate_json(compared) if compared else None,
        rating,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
