"""The data home holds every user's questions and answers, uploads and error logs: only its owner reads it."""

from __future__ import annotations

import stat
from pathlib import Path

from assistant.core.config import load_settings
from assistant.core.errors import log_failure
from assistant.runtime import Runtime


def _others_may(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode) & 0o077


def test_a_new_home_is_its_owners_alone(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    Runtime(load_settings(home=home))
    assert home.is_dir() and not _others_may(home)


def test_a_home_others_could_read_is_closed(tmp_path: Path) -> None:
    home = tmp_path / "old-home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # as an earlier release, under the usual umask, left it
    Runtime(load_settings(home=home))
    assert not _others_may(home)


def test_an_error_log_outside_an_unwritable_home_is_private_and_of_its_own(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the home should be")
    first = log_failure(ValueError("one"), blocked, "test")
    second = log_failure(ValueError("two"), blocked, "test")
    assert first != second and not first.is_relative_to(blocked), "no fixed name another user could plant"
    assert not _others_may(first) and "ValueError: one" in first.read_text()
    for log in (first, second):
        log.unlink()
