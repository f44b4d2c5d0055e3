"""The answering graph: route → retrieve → adapter → generate → cite.

Nodes take what they need from a ``Components`` object and return only the
keys they change. ``generate`` hands each token to the ``on_token`` callback in
the run's ``configurable``, called in the node's own thread. LangGraph's own
token streaming (``stream_mode="custom"``) runs the node in a second thread
and cost a third of the token rate on a 2-core machine, so it is not used.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from assistant.backends import Backend
from assistant.config import Settings
from assistant.errors import UserError
from assistant.prompts import build_prompt, cited_numbers
from assistant.results import Citation, Passage, Route
from assistant.retrieval import retrieve_passages
from assistant.router import route_by_index
from ingest.lexical import LexicalIndex
from ingest.store import Index


class AnswerState(TypedDict, total=False):
    question: str
    requested_domain: str  # "auto" or a domain name
    requested_adapter: str  # "auto" (the domain's active one), "none", DOMAIN or DOMAIN@VERSION
    adapter: str | None  # the adapter applied, e.g. "policy@2"
    sources: list[str] | None  # only passages from these documents
    generate: bool  # False: stop after retrieval
    route: Route
    passages: list[Passage]
    answer: str
    citations: list[Citation]
    cited: bool
    timings_ms: Annotated[dict[str, float], operator.or_]


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

    def adapter_for(self, requested: str, domain: str) -> str | None:
        """The adapter to apply for ``domain`` (loaded into the backend), or None for the base model."""
        ...


def build_graph(components: Components) -> CompiledStateGraph[AnswerState, Any, AnswerState, AnswerState]:
    graph = StateGraph(AnswerState)
    graph.add_node("route", _timed("route", lambda s, c: _route(components, s)))
    graph.add_node("adapter", _timed("adapter", lambda s, c: _choose_adapter(components, s)))
    graph.add_node("retrieve", _timed("retrieve", lambda s, c: _retrieve(components, s)))
    graph.add_node("generate", _timed("generate", lambda s, c: _generate(components, s, c)))
    graph.add_node("cite", _cite)
    graph.add_edge(START, "route")
    graph.add_edge("route", "retrieve")
    graph.add_conditional_edges("retrieve", lambda s: "adapter" if s.get("generate", True) else END, ["adapter", END])
    graph.add_edge("adapter", "generate")
    graph.add_edge("generate", "cite")
    graph.add_edge("cite", END)
    return graph.compile()


def _timed(name: str, node: Callable[[AnswerState, RunnableConfig], AnswerState]) -> Node:
    def run(state: AnswerState, config: RunnableConfig) -> AnswerState:
        started = time.perf_counter()
        update = node(state, config)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        update["timings_ms"] = {**update.get("timings_ms", {}), name: elapsed}
        return update

    return run


def _route(components: Components, state: AnswerState) -> AnswerState:
    index = components.index
    domains = index.domains()
    if not domains:
        raise UserError("the index is empty: add documents first with `ingest PATH --domain NAME`")
    requested = state.get("requested_domain", "auto")
    if requested != "auto":
        if requested not in domains:
            raise UserError(f"unknown domain {requested!r}; known domains: {', '.join(domains)}")
        return {"route": Route(domain=requested, confidence=1.0, reason="chosen by the caller")}
    query = index.embedder.embed_query(state["question"])
    return {"route": route_by_index(index, query, domains, components.settings.routing)}


def _retrieve(components: Components, state: AnswerState) -> AnswerState:
    passages = retrieve_passages(
        components.index,
        components.lexical,
        state["question"],
        state["route"].domain,
        components.settings.retrieval,
        state.get("sources"),
    )
    return {"passages": passages}


def _choose_adapter(components: Components, state: AnswerState) -> AnswerState:
    return {"adapter": components.adapter_for(state.get("requested_adapter", "auto"), state["route"].domain)}


def _generate(components: Components, state: AnswerState, config: RunnableConfig) -> AnswerState:
    backend = components.backend  # loaded on first use, before the clock for the first token starts
    on_token = config.get("configurable", {}).get("on_token")
    prompt = build_prompt(state["question"], state["passages"])
    started = time.perf_counter()
    first_token_ms: float | None = None
    pieces: list[str] = []
    for piece in backend.stream(prompt, state.get("adapter")):
        if first_token_ms is None:
            first_token_ms = round((time.perf_counter() - started) * 1000, 1)
        pieces.append(piece)
        if on_token is not None:
            on_token(piece)
    return {"answer": "".join(pieces).strip(), "timings_ms": {"first_token": first_token_ms or 0.0}}


def _cite(state: AnswerState) -> AnswerState:
    """Citations are the passages the answer cites; failing that, every passage it was given."""
    passages = state["passages"]
    numbers = [n for n in cited_numbers(state["answer"]) if 1 <= n <= len(passages)]
    chosen = numbers or list(range(1, len(passages) + 1))
    citations = [Citation(n=n, **passages[n - 1].model_dump()) for n in chosen]
    return {"citations": citations, "cited": bool(numbers)}
