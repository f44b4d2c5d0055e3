"""One writer at a time on a data home's index, across processes: the CLI, the web app and the API share it.

Ingest, remove, ``verify --repair`` and the BM25 rebuild they end with hold this lock (``filelock``, an OS file
lock, so a killed writer never leaves it held). A second writer says it is waiting, then waits, and gives up
with one clear line after ``ingest.lock_timeout_s``. Readers never take it: what they read is published whole.

Each write ends by stamping a new *generation* beside the lock, so that a long-running reader (the web app,
the API) can tell that another process changed the index and reopen what it holds in memory.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from assistant.core.errors import UserError

NEARLY_FULL_BYTES = 16 << 20  # what a failed write leaves free on a full disk is seldom more than a few blocks
LOCK_FILE = "write.lock"
GENERATION_FILE = "generation"


@dataclass
class Write:
    generation: str = field(default_factory=lambda: uuid.uuid4().hex)  # the index's generation once it is done


def generation(index_dir: Path) -> str:
    """The index's current generation: it changes with every write, whichever process made it."""
    path = index_dir / GENERATION_FILE
    return path.read_text(encoding="utf-8") if path.is_file() else ""


@contextmanager
def writing(index_dir: Path, timeout_s: float, on_wait: Callable[[str], None]) -> Iterator[Write]:
    lock = _lock(index_dir)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        on_wait("another ingest, remove or verify --repair is writing to this index; waiting for it to finish…")
        try:
            lock.acquire(timeout=timeout_s)
        except Timeout:
            raise UserError(
                f"another process has been writing to the index in {index_dir} for over {timeout_s:.0f} s "
                "(ingest, remove or verify --repair); try again when it is done"
            ) from None
    with _held(lock, index_dir) as write:
        yield write


@contextmanager
def writing_if_free(index_dir: Path) -> Iterator[Write | None]:
    """The write lock if nobody holds it now, else ``None`` at once: for upkeep a reader may put off to a later
    request rather than wait out another's whole ingest."""
    lock = _lock(index_dir)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield None
        return
    with _held(lock, index_dir) as write:
        yield write


def _lock(index_dir: Path) -> FileLock:
    index_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(index_dir / LOCK_FILE, thread_local=False)


@contextmanager
def _held(lock: FileLock, index_dir: Path) -> Iterator[Write]:
    write = Write()
    try:
        yield write
    finally:
        (index_dir / GENERATION_FILE).write_text(write.generation, encoding="utf-8")
        lock.release()


def disk_full(path: Path) -> UserError | None:
    """When a write under ``path`` failed and its disk is (nearly) full, the one line that says so: Chroma
    reports a full disk as "Failed to apply logs to the metadata segment", which names no disk."""
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return None
    if free >= NEARLY_FULL_BYTES:
        return None
    return UserError(
        f"the disk holding {path} is full ({free // 1024} KiB free): free some space and run it again; "
        "`ingest verify` shows what the cut-short write left, and `ingest verify --repair` removes it"
    )
