"""Adapters: each domain's versions as cards; train a new one in the background; export, activate, roll back."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from adapters.registry import AdapterVersion
from adapters.training.export import export_adapter
from adapters.training.pipeline import train_from_file
from adapters.training.train import Progress
from eval.dataset import eval_questions
from ui.job_view import watch_job
from ui.jobs import Job
from ui.session import Session, errors_shown, run_action, start_page, upload_or_path

session = start_page("Adapters", admins_only=True)
runtime = session.runtime
registry = runtime.registry


def domains(session: Session) -> list[str]:
    allowed = session.manageable_domains()
    indexed = runtime.known_domains()
    return [d for d in indexed if allowed is None or d in allowed]


def card(adapter: AdapterVersion) -> None:
    info = adapter.card
    with st.container(border=True):
        title, actions = st.columns([3, 2])
        active = " :green-badge[active]" if adapter.active else ""
        title.markdown(f"**{adapter.name}**{active}  \n:small[{info.method} · {info.created_at:%Y-%m-%d %H:%M} UTC]")
        served = "lora" in info.exports
        if not adapter.active:
            actions.button(
                "Activate", key=f"activate-{adapter.name}", on_click=run_action, args=(registry.activate, adapter.name)
            )
        if not served and actions.button("Export to GGUF", key=f"export-{adapter.name}"):
            with st.spinner(f"Exporting {adapter.name} and checking it against PEFT…"):
                export_adapter(session.settings, adapter, on_notice=lambda _: None)
            st.rerun()
        figures = st.columns(4)
        figures[0].metric("examples", info.dataset.examples)
        figures[1].metric("steps", info.steps)
        figures[2].metric("train loss", "—" if info.train_loss is None else f"{info.train_loss:.3f}")
        figures[3].metric("held-out loss", "—" if info.held_out_loss is None else f"{info.held_out_loss:.3f}")
        st.caption(
            ("Served by llama.cpp: " + ", ".join(info.exports)) if served else "Not exported: `ask` cannot use it yet."
        )
        if info.eval:
            with st.expander("Last eval"):
                st.json(info.eval)


def training_form(session: Session, choices: list[str]) -> None:
    with st.form("train"):
        st.markdown("**Train a new version**")
        domain = st.selectbox("Domain", choices)
        upload = st.file_uploader("Training data (JSONL: question, answer, optional sources)", type=["jsonl"])
        path = st.text_input("…or its path on this machine")
        eval_sets = st.text_input("Eval sets whose questions must not be trained on (paths, comma-separated)")
        max_steps = st.number_input("Max steps (0 = the config's epochs)", min_value=0, value=0)
        export = st.checkbox("Export for llama.cpp when trained", value=True)
        if st.form_submit_button("Start training", type="primary"):
            data = upload_or_path(session, upload, path, session.uploads(domain) / "training")
            if data is None:
                st.error("Give the training data: upload a JSONL file or type its path.")
                return
            checked = [session.server_path(p.strip()) for p in eval_sets.split(",") if p.strip()]
            session.jobs.start(
                "train",
                f"Training {domain}",
                session.user,
                lambda job: train(job, domain, data, checked, max_steps or None, export),
            )
            st.rerun()


def train(job: Job, domain: str, data: Path, eval_sets: list[Path], max_steps: int | None, export: bool) -> str:
    def on_progress(report: Progress) -> None:
        job.advance(report.step, report.total_steps, loss=report.loss, held_out_loss=report.held_out_loss)

    adapter, _ = train_from_file(
        runtime,
        domain,
        data,
        eval_questions(eval_sets),
        export=export,
        max_steps=max_steps,
        on_progress=on_progress,
        on_notice=job.notice,
    )
    return adapter.name


with errors_shown(session):
    choices = domains(session)
    if not choices:
        st.info("Add documents to a domain first (Documents page): an adapter trains on its passages.")
        st.stop()
    watch_job(session.jobs, "train", session.user, lambda name: st.success(f"{name} is trained and registered."))
    if session.jobs.running("train") is None:
        training_form(session, choices)
    for domain in choices:
        st.subheader(domain)
        versions = registry.versions(domain)
        if not versions:
            st.caption("No adapter yet: answers in this domain come from the base model.")
            continue
        st.button(
            "Roll back to the previous active version",
            key=f"rollback-{domain}",
            on_click=run_action,
            args=(registry.rollback, domain),
        )
        for adapter in reversed(versions):
            card(adapter)
