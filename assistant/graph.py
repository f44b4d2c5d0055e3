"""The answering graph: contextualize → route → retrieve → grade → adapter → generate → verify.

    contextualize  the user's visible domains; a follow-up question rewritten with the previous turn
    route          explicit domain/adapter, else every visible domain is searched and the one whose best
                   passage (or hint) matches best is chosen; below ``routing.min_confidence``, every
                   visible domain and no adapter
    retrieve       the routed domain's passages (already found while routing), or hybrid retrieval
                   within the domain asked for
    grade          best passage below ``grading.min_score`` → another visible domain that covers the
                   question answers instead, and the route says so; if none does, refuse
    adapter        the routed domain's active adapter (or the one asked for), loaded into the backend
    generate       stream the answer from the prompt with the passages fenced as data
    verify         drop ``[n]`` markers that name no passage given, then list the citations

Nodes take what they need from a ``Components`` object and return only the
keys they change. ``generate`` hands each token to the ``on_token`` callback in
the run's ``configurable``, called in the node's own thread. LangGraph's own
token streaming (``stream_mode="custom"``) runs the node in a second thread
and cost a third of the token rate on a 2-core machine, so it is not used.

With a checkpointer and a ``thread_id``, the state persists between runs:
``turns`` accumulates the conversation, and every other key is reset or
overwritten by the next turn.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any, NamedTuple, Protocol, TypedDict

import numpy as np
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from assistant.backends import Backend
from assistant.core.config import Settings
from assistant.core.errors import UserError
from assistant.core.prompts import NOT_COVERED, Prompt, build_prompt, cited_numbers, drop_citations
from assistant.core.results import Citation, Grade, Passage, Route, Usage
from assistant.retrieval import retrieve_passages
from assistant.router import route_by_evidence
from ingest.lexical import LexicalIndex
from ingest.store import Index


class Turn(TypedDict):
    question: str
    topic: str  # the last question of the conversation that stood alone: what follow-ups refer to
    answer: str
    domain: str | None


def _merge_timings(old: dict[str, float], new: dict[str, float]) -> dict[str, float]:
    """Nodes add their timings; an empty update (a new turn) starts afresh."""
    return {**old, **new} if new else {}


class AnswerState(TypedDict, total=False):
    # the request
    question: str
    requested_domain: str  # "auto" or a domain name
    requested_adapter: str  # "auto" (the domain's active one), "none", DOMAIN or DOMAIN@VERSION
    sources: list[str] | None  # only passages from these documents
    user: str | None  # whose domains may be searched; None = the configured default user
    generate: bool  # False: stop after grading
    # what the nodes find
    visible_domains: list[str]
    search_query: str  # the question, rewritten with the conversation when it is a follow-up
    topic: str
    route: Route
    candidates: dict[str, list[Passage]]  # each visible domain's passages, when the route was chosen from them
    passages: list[Passage]
    grade: Grade
    adapter: str | None  # the adapter applied, e.g. "policy@2"
    answer: str
    citations: list[Citation]
    cited: bool
    dropped_citations: int
    refused: bool
    usage: Usage | None  # tokens spent generating; absent when nothing was generated
    timings_ms: Annotated[dict[str, float], _merge_timings]
    turns: Annotated[list[Turn], operator.add]


class Node(Protocol):
    def __call__(self, state: AnswerState, config: RunnableConfig) -> AnswerState: ...


class Components(Protocol):
    """What the nodes use; the backend is only touched when an answer is generated."""

    settings: Settings

    @property
    def index(self) -> Index: ...

    @property
    def lexical(self) -> LexicalIndex: ...

    @property
    def backend(self) -> Backend: ...

    def visible_domains(self, user: str | None) -> list[str]:
        """The indexed domains ``user`` may query."""
        ...

    def domain_hints(self, domain: str) -> tuple[list[str], Any]:
        """The domain's description and example questions, and their unit vectors (rows)."""
        ...

    def adapter_domain(self, requested: str) -> str | None:
        """The domain an explicitly requested adapter belongs to; None for "auto"/"none"."""
        ...

    def adapter_for(self, requested: str, domain: str | None, visible: Sequence[str]) -> str | None:
        """The adapter to apply for ``domain`` (loaded into the backend), or None for the base model;
        only adapters of ``visible`` domains."""
        ...


AnswerGraph = CompiledStateGraph[AnswerState, Any, AnswerState, AnswerState]


def build_graph(components: Components, checkpointer: BaseCheckpointSaver[Any] | None = None) -> AnswerGraph:
    graph = StateGraph(AnswerState)
    graph.add_node("contextualize", _timed("contextualize", lambda s, c: _contextualize(components, s)))
    graph.add_node("route", _timed("route", lambda s, c: _route(components, s)))
    graph.add_node("retrieve", _timed("retrieve", lambda s, c: _retrieve(components, s)))
    graph.add_node("grade", lambda s: _grade(components, s))
    graph.add_node("refuse", _refuse)
    graph.add_node("adapter", _timed("adapter", lambda s, c: _choose_adapter(components, s)))
    graph.add_node("generate", _timed("generate", lambda s, c: _generate(components, s, c)))
    graph.add_node("verify", _verify)
    graph.add_edge(START, "contextualize")
    graph.add_edge("contextualize", "route")
    graph.add_edge("route", "retrieve")
    graph.add_edge("retrieve", "grade")
    graph.add_conditional_edges("grade", _after_grading, ["adapter", "refuse", END])
    graph.add_edge("refuse", END)
    graph.add_edge("adapter", "generate")
    graph.add_edge("generate", "verify")
    graph.add_edge("verify", END)
    return graph.compile(checkpointer=checkpointer)


def _timed(name: str, node: Callable[[AnswerState, RunnableConfig], AnswerState]) -> Node:
    def run(state: AnswerState, config: RunnableConfig) -> AnswerState:
        started = time.perf_counter()
        update = node(state, config)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        update["timings_ms"] = {**update.get("timings_ms", {}), name: elapsed}
        return update

    return run


# Words that make a question lean on the previous turn ("how long does *that* take?").
_REFERRING = frozenset(
    ["it", "its", "this", "that", "these", "those", "they", "them", "their", "there", "he", "she", "him", "same"]
)


def is_follow_up(question: str) -> bool:
    """A question that refers back, or is too short to stand alone ("what about guests?")."""
    words = re.findall(r"[a-z']+", question.lower())
    return len(words) <= 4 or any(word in _REFERRING for word in words)


def turns_of(history: Sequence[tuple[str, str]]) -> list[Turn]:
    """Earlier question/answer pairs as turns, each follow-up keeping the topic of the question it follows."""
    turns: list[Turn] = []
    for question, answer in history:
        topic = turns[-1]["topic"] if turns and is_follow_up(question) else question
        turns.append(Turn(question=question, topic=topic, answer=answer, domain=None))
    return turns


def _contextualize(components: Components, state: AnswerState) -> AnswerState:
    """A new turn: reset what the last one found, fix the user's domains, rewrite a follow-up."""
    question = state["question"].strip()
    turns = state.get("turns", [])
    query = topic = question
    if turns and is_follow_up(question):
        topic = turns[-1]["topic"]
        query = f"{question} (following up on: {topic})"
    return {
        "visible_domains": components.visible_domains(state.get("user")),
        "search_query": query,
        "topic": topic,
        "candidates": {},
        "adapter": None,
        "dropped_citations": 0,
        "refused": False,
        "timings_ms": {},
    }


def _route(components: Components, state: AnswerState) -> AnswerState:
    visible = state["visible_domains"]
    requested, reason = state.get("requested_domain", "auto"), "chosen by the caller"
    adapter = state.get("requested_adapter", "auto")
    if requested == "auto" and (adapter_domain := components.adapter_domain(adapter)):
        requested, reason = adapter_domain, f"the domain of the adapter asked for ({adapter})"
    if requested != "auto":
        if requested not in visible:
            raise UserError(f"unknown domain {requested!r}; known domains: {', '.join(visible)}")
        return {"route": Route(domain=requested, confidence=1.0, reason=reason)}
    query = np.asarray(components.index.embedder.embed_query(state["search_query"]))
    candidates = {domain: _search(components, state, domain) for domain in visible}
    hints = {}
    for domain in visible:
        texts, vectors = components.domain_hints(domain)
        hints[domain] = list(zip(texts, (vectors @ query).tolist(), strict=True))
    route = route_by_evidence(state["search_query"], candidates, components.settings.routing, hints)
    return {"route": route, "candidates": candidates}


def _search(components: Components, state: AnswerState, domain: str) -> list[Passage]:
    return retrieve_passages(
        components.index,
        components.lexical,
        state["search_query"],
        domain,
        components.settings.retrieval,
        state.get("sources"),
    )


def _retrieve(components: Components, state: AnswerState) -> AnswerState:
    """The routed domain's passages; with no confident route, the best of every visible domain's."""
    route, candidates = state["route"], state.get("candidates") or {}
    if route.domain is not None:
        found = candidates.get(route.domain)
        return {"passages": found if found is not None else _search(components, state, route.domain)}
    # No domain was clear: each domain's best passage, then the best of the rest, so that none is left out.
    leaders = [passages[0] for passages in candidates.values() if passages]
    rest = [passage for passages in candidates.values() for passage in passages[1:]]
    ranked = sorted(leaders, key=lambda p: -p.score) + sorted(rest, key=lambda p: -p.score)
    return {"passages": sorted(ranked[: components.settings.retrieval.k], key=lambda p: -p.score)}


def _grade(components: Components, state: AnswerState) -> AnswerState:
    """Is the question covered? When the routed domain does not cover it but another visible domain
    does, that domain answers instead (with its adapter), and the route's reason says so."""
    threshold = components.settings.grading.min_score
    route, passages = state["route"], state["passages"]
    update: AnswerState = {}
    if _best_score(passages) < threshold and (other := _other_covering_domain(state, threshold)):
        passages = state["candidates"][other]
        reason = f"{route.reason}; {route.domain!r} does not cover the question, {other!r} does"
        update = {"passages": passages, "route": Route(domain=other, confidence=route.confidence, reason=reason)}
    best = _best_score(passages)
    update["grade"] = Grade(covered=best >= threshold, best_score=round(best, 3), threshold=threshold)
    return update


def _other_covering_domain(state: AnswerState, threshold: float) -> str | None:
    """The best of the other searched domains, if it covers the question; only after automatic routing."""
    routed = state["route"].domain
    others = {d: _best_score(p) for d, p in (state.get("candidates") or {}).items() if d != routed}
    best = max(others, key=others.__getitem__, default=None)
    return best if routed is not None and best is not None and others[best] >= threshold else None


def _best_score(passages: Sequence[Passage]) -> float:
    return max((p.score for p in passages), default=-1.0)


def _after_grading(state: AnswerState) -> str:
    if not state.get("generate", True):
        return END
    return "adapter" if state["grade"].covered else "refuse"


def _refuse(state: AnswerState) -> AnswerState:
    """The documents don't cover the question: say so rather than let the model invent an answer.
    The passages found are still listed (uncited), so a user can see how close they came."""
    return {
        "answer": NOT_COVERED,
        "citations": numbered(state["passages"]),
        "cited": False,
        "refused": True,
        "turns": [_turn(state, NOT_COVERED)],
    }


def _choose_adapter(components: Components, state: AnswerState) -> AnswerState:
    requested = state.get("requested_adapter", "auto")
    return {"adapter": components.adapter_for(requested, state["route"].domain, state["visible_domains"])}


def _generate(components: Components, state: AnswerState, config: RunnableConfig) -> AnswerState:
    backend = components.backend  # loaded on first use, before the clock for the first token starts
    on_token = config.get("configurable", {}).get("on_token")
    prompt = build_prompt(state["search_query"], state["passages"])
    generated = stream_answer(backend, prompt, state.get("adapter"), on_token)
    return {
        "answer": generated.text,
        "usage": backend.usage(prompt, generated.text),
        "timings_ms": {"first_token": generated.first_token_ms},
    }


class Generation(NamedTuple):
    text: str
    first_token_ms: float
    total_ms: float
    pieces: int  # streamed pieces: tokens, for the in-process backends


def stream_answer(
    backend: Backend, prompt: Prompt, adapter: str | None, on_token: Callable[[str], None] | None = None
) -> Generation:
    """Generate from ``prompt``, handing each piece to ``on_token`` as it comes, and time it."""
    started = time.perf_counter()
    first_token_ms: float | None = None
    pieces: list[str] = []
    for piece in backend.stream(prompt, adapter):
        if first_token_ms is None:
            first_token_ms = round((time.perf_counter() - started) * 1000, 1)
        pieces.append(piece)
        if on_token is not None:
            on_token(piece)
    total_ms = round((time.perf_counter() - started) * 1000, 1)
    return Generation("".join(pieces).strip(), first_token_ms or 0.0, total_ms, len(pieces))


def _verify(state: AnswerState) -> AnswerState:
    """Keep only citations of passages that were given; cite them, or failing that every passage given."""
    passages = state["passages"]
    answer, dropped = drop_citations(state["answer"], lambda n: 1 <= n <= len(passages))
    numbers = cited_numbers(answer)
    cited = [Citation(n=n, **passages[n - 1].model_dump()) for n in numbers]
    return {
        "answer": answer,
        "dropped_citations": dropped,
        "citations": cited or numbered(passages),
        "cited": bool(numbers),
        "turns": [_turn(state, answer)],
    }


def numbered(passages: Sequence[Passage]) -> list[Citation]:
    return [Citation(n=n, **p.model_dump()) for n, p in enumerate(passages, start=1)]


def _turn(state: AnswerState, answer: str) -> Turn:
    return {"question": state["question"], "topic": state["topic"], "answer": answer, "domain": state["route"].domain}
