"""One answer as the chat shows it: the text, a badge saying who answered and why, warnings when the
grounding is thin, and every source passage behind an expander (kotaemon's bar for citation display).
Answers, passages and document names are shown as written (``ui.untrusted``), never as Markdown."""

from __future__ import annotations

import streamlit as st

from assistant.core.config import Settings
from assistant.core.results import AnswerResult, Citation
from ui.untrusted import answer_markdown, as_text, source_anchor


def show_answer(result: AnswerResult, settings: Settings, key: str) -> None:
    """``key`` names this answer on the page, so that its ``[n]`` links reach its own sources."""
    st.markdown(answer_markdown(result.answer, key, {c.n for c in result.citations}))
    show_badge(result)
    show_warnings(result, settings)
    show_sources(result, key)


def show_badge(result: AnswerResult) -> None:
    route = result.route
    domain = f":blue-badge[{route.domain}]" if route.domain else ":gray-badge[all domains]"
    adapter = f":violet-badge[adapter {result.adapter}]" if result.adapter else ":gray-badge[base model]"
    timings = result.timings_ms
    first = f" · first token {timings['first_token'] / 1000:.1f} s" if "first_token" in timings else ""
    st.markdown(
        f"{domain} {adapter} :green-badge[route confidence {route.confidence:.2f}]  \n"
        f":small[{as_text(route.reason)}{first} · total {timings.get('total', 0) / 1000:.1f} s]"
    )


def show_warnings(result: AnswerResult, settings: Settings) -> None:
    grade = result.grade
    if result.refused:
        st.warning(
            f"Not answered: the closest passage scores {grade.best_score:.2f}, under the {grade.threshold:.2f} "
            "needed to answer from the documents. The passages found are listed, uncited."
        )
    elif grade.best_score < settings.grading.weak_score:
        st.warning(
            f"Weak retrieval: the best passage scores only {grade.best_score:.2f} (answers are refused under "
            f"{grade.threshold:.2f}). Check the sources before relying on this answer."
        )
    if result.route.domain is None:
        st.info(
            f"No domain was clear (confidence {result.route.confidence:.2f}), so every domain you may see was "
            "searched and no adapter was applied."
        )
    if not result.refused and not result.cited:
        st.info("The answer cites no passage; below are all the passages it was given.")
    if result.dropped_citations:
        st.caption(f"{result.dropped_citations} citation(s) of passages that were never given were removed.")


def show_sources(result: AnswerResult, key: str) -> None:
    heading = "Sources" if result.cited else "Passages given" if not result.refused else "Closest passages"
    st.markdown(f"**{heading}**")
    for citation in result.citations:
        st.html(f'<span id="{source_anchor(key, citation.n)}"></span>')  # where the answer's [n] links to
        with st.expander(source_label(citation)):
            st.markdown(as_text(citation.text))


def source_label(citation: Citation) -> str:
    where = [citation.source]
    if citation.section:
        where.append(citation.section)
    if citation.page is not None:
        where.append(f"page {citation.page}")
    return f"\\[{citation.n}\\] {as_text(' · '.join(where))} — score {citation.score:.2f}"
