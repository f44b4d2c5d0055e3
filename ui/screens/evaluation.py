"""Evaluation: run an eval set in the background, then read its charts and drill into each question."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from eval.arms import ARMS
from eval.compare import load_results
from eval.harness import parse_arms, record_on_cards, run_eval
from eval.report import charts, scored_answer_metrics, write_reports
from eval.results import RETRIEVAL, EvalResults, QuestionResult
from ui.job_view import watch_job
from ui.jobs import Job
from ui.session import Session, errors_shown, start_page, upload_or_path
from ui.untrusted import as_text

session = start_page("Evaluation", admins_only=True)
runtime = session.runtime
runs_dir = session.settings.eval_runs_dir


def run_form(session: Session) -> None:
    with st.form("eval"):
        st.markdown("**Run an eval set**")
        upload = st.file_uploader("Eval set (JSONL: question, domain, gold_sources, reference, answerable)", ["jsonl"])
        path = st.text_input("…or its path on this machine")
        arms = st.multiselect("Arms", list(ARMS), default=list(ARMS))
        limit = st.number_input("Only the first N questions (0 = all)", min_value=0, value=0)
        record = st.checkbox("Write each adapter's headline figures into its card", value=True)
        if st.form_submit_button("Run", type="primary"):
            out = runs_dir / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            set_path = upload_or_path(session, upload, path, out)
            if set_path is None or not arms:
                st.error("Give an eval set (upload or path) and at least one arm.")
                return
            session.jobs.start(
                "eval",
                f"Evaluating {set_path.name}",
                session.user,
                lambda job: evaluate(job, set_path, arms, limit or None, out, record),
            )
            st.rerun()


def evaluate(job: Job, set_path: Path, arms: list[str], limit: int | None, out: Path, record: bool) -> Path:
    results = run_eval(
        runtime,
        set_path,
        parse_arms(",".join(arms)),
        user=session.user,
        limit=limit,
        on_progress=lambda done, total, _: job.advance(done, total),
    )
    write_reports(results, out)
    if record:
        for name in record_on_cards(runtime, results, out):
            job.notice(f"headline figures written to the card of {name}")
    return out


def pick_run() -> EvalResults | None:
    runs = sorted((p.parent for p in runs_dir.glob("*/results.json")), reverse=True)
    choice = st.selectbox("Results", [*map(str, runs), "Another results.json…"])
    if choice == "Another results.json…":
        other = st.text_input("Path of a results.json (or the --out folder of `assistant eval run`)")
        return load_results(Path(other).expanduser()) if other else None
    return load_results(Path(choice))


def show_results(results: EvalResults) -> None:
    st.caption(f"{results.eval_set} · {len(results.questions)} questions · run {results.created_at:%Y-%m-%d %H:%M}")
    metrics = scored_answer_metrics(results)
    st.dataframe(
        [{"metric": metric} | {arm: _estimate(results, arm, metric) for arm in results.arms} for metric in metrics],
        hide_index=True,
    )
    retrieval = results.summary.get(RETRIEVAL, {})
    if retrieval:
        st.caption("Retrieval: " + " · ".join(f"{name} {e.mean:.3f}" for name, e in retrieval.items()))
    for title, png in charts(results):
        st.image(base64.b64decode(png), caption=title)
    with st.expander("Paired differences"):
        st.dataframe([d.model_dump(exclude={"wins", "losses"}) for d in results.differences], hide_index=True)
    drill_down(results)


def drill_down(results: EvalResults) -> None:
    st.subheader("Question by question")
    labels = [f"{q.line}: {q.question}" for q in results.questions]
    chosen = st.selectbox("Question", range(len(labels)), format_func=labels.__getitem__)
    question = results.questions[chosen]
    show_question(question)


def show_question(question: QuestionResult) -> None:
    routed = question.routed_domain or "all domains"
    st.markdown(
        f"Domain **{question.domain or '—'}**, routed to **{routed}** ({question.route_confidence:.2f}); "
        f"best passage {question.best_score:.2f}{'' if question.covered else ' (not covered)'}"
    )
    if question.reference:
        st.markdown(f"**Reference:** {as_text(question.reference)}")
    gold, retrieved = as_text(", ".join(question.gold_sources) or "—"), as_text(", ".join(question.retrieved))
    st.markdown(f"**Gold:** {gold} · **Retrieved:** {retrieved}")
    columns = st.columns(len(question.arms))
    for column, (arm, result) in zip(columns, question.arms.items(), strict=True):
        with column:
            st.markdown(f"**{arm}**" + (f" ({result.adapter})" if result.adapter else ""))
            st.markdown(as_text(result.answer))
            st.dataframe([{"metric": k, "score": round(v, 3)} for k, v in result.scores.items()], hide_index=True)


def _estimate(results: EvalResults, arm: str, metric: str) -> str:
    estimate = results.summary[arm].get(metric)
    return f"{estimate.mean:.2f} [{estimate.low:.2f}, {estimate.high:.2f}]" if estimate else "—"


with errors_shown(session):
    watch_job(session.jobs, "eval", session.user, lambda out: st.success(f"Done: reports in {out}"))
    if session.jobs.running("eval") is None:
        run_form(session)
    st.divider()
    results = pick_run()
    if results is not None:
        show_results(results)
