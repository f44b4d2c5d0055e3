"""A background job as a page shows it: live while it runs (the fragment reruns every two seconds),
then its outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from ui.jobs import Job, JobBoard


def watch_job(jobs: JobBoard, kind: str, owner: str | None, on_done: Callable[[Any], object]) -> None:
    """The owner's latest job of this kind, live while it runs."""
    job = jobs.latest(kind, owner)
    if job is None:
        return
    if job.status != "running":
        show_job(job, on_done)
        return

    @st.fragment(run_every=2)
    def live() -> None:
        current = jobs.latest(kind, owner)
        if current is not None and current.status != "running":
            st.rerun()  # the whole page: what the job made (a new adapter, a new run) shows everywhere
        show_job(job, on_done)

    live()


def show_job(job: Job, on_done: Callable[[Any], object]) -> None:
    with st.container(border=True):
        st.markdown(f"**{job.title}** · {job.status} · {job.seconds:.0f} s")
        if job.status == "running":
            total = job.total or 0
            st.progress(job.done / total if total else 0.0, text=f"{job.done}/{total or '?'}")
        if job.history:
            st.line_chart(job.history, x="step")
        if job.notices:
            with st.expander("Log", expanded=job.status == "running"):
                st.text("\n".join(job.notices[-20:]))
        if job.status == "failed":
            st.error(job.error)
        elif job.status == "done":
            on_done(job.result)
