"""The web app's background jobs and uploads are each user's own; a failure's traceback goes to the log."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assistant.core.config import load_settings
from assistant.core.errors import UserError
from assistant.runtime import Runtime
from ui.jobs import Job, JobBoard
from ui.session import Session
from ui.transcripts import Transcripts


def _wait(job: Job) -> None:
    for _ in range(500):
        if job.status != "running":
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{job.title} did not finish")


def test_a_user_sees_only_their_own_jobs_and_is_told_only_that_the_server_is_busy(tmp_path: Path) -> None:
    board = JobBoard(tmp_path)
    release = threading.Event()
    alices = board.start("train", "Training alice-secret-project", "alice", lambda job: release.wait(10))
    assert board.latest("train", "alice") is alices and board.latest("train", "bob") is None
    with pytest.raises(UserError) as busy:
        board.start("train", "Training bob", "bob", lambda job: None)
    assert "Another user's train job is still running" in str(busy.value) and "secret" not in str(busy.value)
    release.set()
    _wait(alices)


def test_an_unexpected_failure_is_a_short_message_and_its_traceback_is_logged(tmp_path: Path) -> None:
    def broken(job: Job) -> None:
        raise KeyError("internal detail")

    job = JobBoard(tmp_path).start("eval", "Evaluating set.jsonl", None, broken)
    _wait(job)
    assert job.status == "failed" and job.error is not None
    assert "internal detail" not in job.error and "errors.log" in job.error
    logged = (tmp_path / "logs" / "errors.log").read_text()
    assert "Traceback" in logged and "KeyError: 'internal detail'" in logged


@pytest.mark.parametrize("hostile", ["../../etc", "a/b", "a_b", ".", "ünïcode name"])
def test_two_users_uploads_never_share_a_folder(tmp_path: Path, hostile: str) -> None:
    runtime = Runtime(load_settings(home=tmp_path))
    transcripts = Transcripts(tmp_path / "ui.sqlite")
    folders = {
        user: Session(runtime, user, transcripts, JobBoard(tmp_path)).uploads("support") for user in ("a_b", hostile)
    }
    uploads = runtime.settings.uploads_dir.resolve()
    for folder in folders.values():
        assert folder.resolve().parent.parent == uploads and folder.name == "support"
    assert len(set(folders.values())) == len(set(folders))
