"""The data home, closed to other users, and files written whole or not at all, by any number of processes.

A first run of two commands (the CLI and the app, say) may build the same file at the same moment: each
writes under a name of its own beside the target and renames it into place, so no reader ever sees half a
file and neither writer clobbers the other's work; the last to finish wins, whole.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def close_home(home: Path) -> None:
    """Create the data home for its owner alone (0700), or close one others could enter: it holds every user's
    questions and answers, uploads, logs and index, and nothing in it is reachable through a closed folder,
    whatever mode a library gives the files it writes there."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if home.stat().st_mode & 0o077 and home.stat().st_uid == os.getuid():  # another's home is theirs to close
        home.chmod(0o700)


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A path of this process's own beside ``target`` (a file or a folder to write there); moved onto ``target``
    when the block ends without error, removed when it fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    with replacing(path) as partial:
        partial.write_text(text)
