"""Long work (training an adapter, running an eval set) on a background thread, watched by the pages.

A Streamlit script reruns on every click, so work that outlives a rerun lives here, in one board per
server; a page only reads a job's progress. One job of a kind runs at a time: two trainings at once
would only halve each other's speed on the same cores. Each job is its starter's: another user is told
only that the server is busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assistant.core.errors import UserError, log_failure

JobStatus = Literal["running", "done", "failed"]


@dataclass
class Job:
    kind: str  # "train" or "eval"
    title: str
    owner: str | None  # the user who started it; None on a single-user install
    started_at: float = field(default_factory=time.time)
    status: JobStatus = "running"
    done: int = 0
    total: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)  # e.g. step and loss, for a chart
    notices: list[str] = field(default_factory=list)
    result: Any = None
    error: str | None = None
    finished_at: float | None = None

    def advance(self, done: int, total: int | None, **figures: float | None) -> None:
        self.done, self.total = done, total
        recorded = {name: value for name, value in figures.items() if value is not None}
        if recorded:
            self.history.append({"step": float(done), **recorded})

    def notice(self, text: str) -> None:
        self.notices.append(text)

    @property
    def seconds(self) -> float:
        return (self.finished_at or time.time()) - self.started_at


class JobBoard:
    def __init__(self, home: Path) -> None:
        self.home = home  # whose logs/ keep a failed job's traceback
        self._jobs: list[Job] = []
        self._lock = threading.Lock()

    def start(self, kind: str, title: str, owner: str | None, work: Callable[[Job], Any]) -> Job:
        """Run ``work(job)`` on a thread; its return value becomes ``job.result``."""
        with self._lock:
            running = self.running(kind)
            if running is not None:
                yours = running.title if running.owner == owner else f"Another user's {kind} job"
                raise UserError(f"{yours} is still running; start this one when it is done")
            job = Job(kind, title, owner)
            self._jobs.append(job)
        threading.Thread(target=self._run, args=(job, work), name=f"job-{kind}", daemon=True).start()
        return job

    def running(self, kind: str) -> Job | None:
        """The job of this kind running now, whoever started it."""
        return next((job for job in self._jobs if job.kind == kind and job.status == "running"), None)

    def latest(self, kind: str, owner: str | None) -> Job | None:
        """The owner's latest job of this kind: another user's jobs are never shown."""
        return next((job for job in reversed(self._jobs) if job.kind == kind and job.owner == owner), None)

    def _run(self, job: Job, work: Callable[[Job], Any]) -> None:
        try:
            job.result = work(job)
            job.status = "done"
        except UserError as err:  # a problem with the input, said plainly
            job.error, job.status = str(err), "failed"
        except Exception as err:  # a bug: the traceback goes to the server's log, not the page
            where = log_failure(err, self.home, f"web app job {job.title!r}")
            job.error, job.status = f"{job.title} failed unexpectedly; the details are in {where.name}.", "failed"
        finally:
            job.finished_at = time.time()
