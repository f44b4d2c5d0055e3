"""Chat: ask, watch the answer stream, check its sources; compare with the base model; rate answers."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from assistant.core.results import AnswerResult
from ui.answer_view import show_answer
from ui.feedback import as_jsonl, eval_item, feedback_record, training_example
from ui.session import Session, errors_shown, start_page
from ui.transcripts import Rating, StoredTurn
from ui.untrusted import as_text

session = start_page("Ask your documents")
assistant = session.assistant


def current_thread() -> str:
    """The conversation in the address (`?thread=`), so a reload or a bookmark comes back to it."""
    if "thread" not in st.query_params:
        st.query_params["thread"] = uuid.uuid4().hex[:12]
    return st.query_params["thread"]


def open_thread(thread: str) -> None:
    st.query_params["thread"] = thread


def sidebar(session: Session) -> tuple[str, str, bool]:
    """Conversation list, the domain/adapter override and the compare toggle."""
    with st.sidebar:
        st.button("New conversation", icon=":material/add:", on_click=open_thread, args=(uuid.uuid4().hex[:12],))
        for summary in session.transcripts.threads(session.user)[:15]:
            label = f"{summary.title[:40]} ({summary.turns})"
            key = f"thread-{summary.thread}"
            st.button(label, key=key, type="tertiary", on_click=open_thread, args=(summary.thread,))
        st.divider()
        models = [name for name in assistant.models(session.user) if name != "auto"]  # domains, adapter versions
        visible = [name for name in models if "@" not in name]
        domain = st.selectbox("Domain", ["auto", *visible], help="'auto' routes each question by the index.")
        adapters = [name for name in models if "@" in name]
        adapter = st.selectbox(
            "Adapter",
            ["auto", "none", *adapters],
            help="'auto': the routed domain's active adapter; 'none': the base model.",
        )
        compare = st.toggle("Compare with the base model", help="Answer each question with and without the adapter.")
    return domain, adapter, compare


def show_turn(turn: StoredTurn) -> None:
    with st.chat_message("user"):
        st.markdown(as_text(turn.result.question))
    key = f"{turn.thread}-{turn.position}"
    with st.chat_message("assistant"):
        if turn.compared is None:
            show_answer(turn.result, session.settings, key)
        else:
            left, right = st.columns(2)
            with left:
                st.markdown(f"##### With adapter {as_text(turn.result.adapter or '')}")
                show_answer(turn.result, session.settings, f"{key}-adapter")
            with right:
                st.markdown("##### Base model")
                show_answer(turn.compared, session.settings, f"{key}-base")
        st.feedback("thumbs", key=f"rating-{turn.thread}-{turn.position}", on_change=rate, args=(turn,))


def rate(turn: StoredTurn) -> None:
    choice = st.session_state[f"rating-{turn.thread}-{turn.position}"]
    rating: Rating | None = None if choice is None else ("up" if choice == 1 else "down")
    session.transcripts.rate(turn.thread, turn.position, rating)


def streaming_into(area: DeltaGenerator) -> Callable[[str], None]:
    """Each token as it comes, behind a cursor; until the first one, what is happening."""
    area.caption("Searching the documents…")
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        area.markdown(as_text("".join(pieces)) + " ▌")

    return on_token


def answer(question: str, thread: str, domain: str, adapter: str, compare: bool) -> None:
    """Stream the answer (and the base model's beside it, when comparing), then keep the turn. The turns
    before it in the transcript make the conversation, as a server is given them."""
    history = [(turn.result.question, turn.result.answer) for turn in session.transcripts.turns(thread)]
    with st.chat_message("user"):
        st.markdown(as_text(question))
    with st.chat_message("assistant"):
        left, right = st.columns(2) if compare else (st.container(), None)
        on_token = streaming_into(left.empty())
        result = assistant.ask(
            question, domain=domain, adapter=adapter, user=session.user, history=history, on_token=on_token
        )
        compared = compare_with_base(result, right) if right is not None else None
    session.transcripts.add_turn(thread, session.user, result, compared)


def compare_with_base(result: AnswerResult, area: DeltaGenerator) -> AnswerResult | None:
    if result.adapter is None:
        area.info("No adapter answered this question, so there is nothing to compare it with.")
        return None
    return assistant.ask(
        result.question,
        domain=result.domain or "auto",
        adapter="none",
        user=session.user,
        on_token=streaming_into(area.empty()),
    )


def feedback_downloads(session: Session) -> None:
    rated = session.transcripts.rated(session.user)
    with st.sidebar.expander(f"Feedback ({len(rated)} rated)"):
        st.download_button("All ratings (JSONL)", as_jsonl(map(feedback_record, rated)), "feedback.jsonl")
        st.download_button(
            "Liked answers as training data", as_jsonl(map(training_example, rated)), "training-seed.jsonl"
        )
        st.download_button("Rated questions as an eval set", as_jsonl(map(eval_item, rated)), "eval-seed.jsonl")


with errors_shown(session):
    thread = current_thread()
    domain, adapter, compare = sidebar(session)
    feedback_downloads(session)
    turns = session.transcripts.turns(thread)
    if any(turn.user != session.user for turn in turns):  # the address names another user's conversation
        st.error("This conversation is another user's. Start a new one from the sidebar.")
        st.stop()
    if not turns:
        st.caption("Answers come from your indexed documents and cite them; open a source to read the passage.")
    for turn in turns:
        show_turn(turn)
    if question := st.chat_input("Ask a question about your documents"):
        answer(question, thread, domain, adapter, compare)
        st.rerun()  # show the new turn as every other: with its sources and rating
