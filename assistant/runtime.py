"""One object per process that owns the loaded models, shared by the CLIs and the UI.

Everything is loaded on first use and kept: the embedding model, the index,
the generator. ``assistant retrieve`` therefore never loads the LLM, and a
batch of questions loads each model once. A runtime may serve several threads
at once (the UI does): loading happens once under a lock, and the backend
serialises generation itself.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from langchain_core.runnables import RunnableConfig

from adapters.registry import Registry
from assistant.backends import Backend, create_backend
from assistant.core.config import Settings
from assistant.core.errors import UserError
from assistant.core.files import close_home
from assistant.core.results import AnswerResult, Citation, Grade, Passage, RetrieveResult, Route, Usage
from assistant.graph import AnswerGraph, AnswerState, Turn, build_graph, numbered, turns_of
from assistant.retrieval import retrieve_passages
from ingest.embedder import Embedder
from ingest.lexical import LexicalIndex, sync_lexical
from ingest.manifest import DocumentRecord, LocalManifest, Manifest
from ingest.pipeline import IngestSummary, ProgressCallback, discover, forget, ingest_files
from ingest.server_manifest import ServerManifest
from ingest.store import ChromaServer, Index, check_domain_name
from ingest.verify import VerifyReport, verify_domain
from ingest.write_lock import Write, disk_full, generation, writing, writing_if_free

TokenCallback = Callable[[str], None]
T = TypeVar("T")


class _loaded_once(Generic[T]):  # a decorator, named like cached_property
    """Like ``cached_property``, but two threads never load the same thing twice: the runtime's lock guards
    the first load, after which the value sits in the instance's ``__dict__`` and is read without it."""

    def __init__(self, load: Callable[[Runtime], T]) -> None:
        self.load = load
        self.name = load.__name__

    def __get__(self, runtime: Runtime, owner: type[Runtime] | None = None) -> T:
        with runtime._loading:
            if self.name not in runtime.__dict__:
                runtime.__dict__[self.name] = self.load(runtime)
        return runtime.__dict__[self.name]


class Runtime:
    def __init__(self, settings: Settings, on_wait: Callable[[str], None] = lambda message: None) -> None:
        """``on_wait`` hears when a write waits for another process's (the CLI prints it)."""
        close_home(settings.home)
        self.settings = settings
        self.on_wait = on_wait
        self._loading = threading.RLock()  # reentrant: loading the index loads the embedder
        self._hint_vectors: dict[str, np.ndarray] = {}
        self._index_generation: str | None = None  # the index's generation when this process opened it or wrote

    @_loaded_once
    def embedder(self) -> Embedder:
        return Embedder.from_settings(self.settings)

    @_loaded_once
    def index(self) -> Index:
        url = self.settings.index.chroma_url
        if url:
            index = self.settings.index
            token = index.chroma_token.get_secret_value() if index.chroma_token else None
            server = ChromaServer(str(url), token, index.trusted_network)
            return Index(self.settings.index_dir / "chroma", self.embedder, server)
        self._index_generation = generation(self.settings.index_dir)  # read first: a write meanwhile is not missed
        return Index(self.settings.index_dir / "chroma", self.embedder)

    def follow_other_writers(self, *, locked: bool = False) -> None:
        """Answer from what is indexed now, whoever wrote it since this process looked.

        Embedded Chroma keeps the vectors it loaded in memory: when another process (the CLI, while the app
        runs) has written since, the index is reopened. A Chroma server is shared by every replica, and
        only the BM25 index is this home's: it is brought up to date from the server's chunks."""
        if self.settings.index.chroma_url:
            self._follow_other_replicas(locked=locked)
            return
        if "index" not in self.__dict__:
            return  # an index not opened yet opens fresh
        with self._loading:
            if generation(self.settings.index_dir) != self._index_generation:
                del self.__dict__["index"]
                Index.forget_open_clients()
                self.index  # noqa: B018 - open it again now, under the lock

    def _follow_other_replicas(self, *, locked: bool = False) -> None:
        """Rebuild the BM25 indexes whose chunks changed on the server, under this home's write lock (which
        a write already holds: ``locked``). A reader never waits for it: while this home's own write holds
        it, the question is answered from the BM25 there is, and a question after it catches up."""
        manifest = self.manifest
        assert isinstance(manifest, ServerManifest)
        with self._loading:
            current = manifest.generation()
            if current == self._index_generation:
                return
            with nullcontext(Write()) if locked else writing_if_free(self.settings.index_dir) as write:
                if write is None:
                    return  # tried again at the next question
                for domain in self.index.domains():
                    sync_lexical(domain, self.index, self.lexical)
            self._index_generation = current

    @_loaded_once
    def lexical(self) -> LexicalIndex:
        return LexicalIndex(self.settings.index_dir / "bm25")

    @_loaded_once
    def manifest(self) -> Manifest:
        """Beside the index: in the data home, or on the Chroma server for every replica to share."""
        local = self.settings.index_dir / "manifest.sqlite"
        if not self.settings.index.chroma_url:
            return LocalManifest(local)
        return ServerManifest(self.index, adopting=local)

    @_loaded_once
    def backend(self) -> Backend:
        return create_backend(self.settings)

    @_loaded_once
    def registry(self) -> Registry:
        return Registry(self.settings.adapters_dir)

    def visible_domains(self, user: str | None) -> list[str]:
        """The indexed domains ``user`` may query; every one when no users are configured."""
        indexed = self.index.domains()
        if not indexed:
            raise UserError("the index is empty: add documents first with `ingest PATH --domain NAME`")
        access = self.settings.access
        if not access.users:
            return indexed
        user = user or access.default_user
        if user is None:
            raise UserError("access control is configured: say which user asks (--user NAME)")
        if user in access.admins:
            return indexed
        if user not in access.users:
            raise UserError(f"unknown user {user!r}: access.users in the config lists who may ask")
        return [domain for domain in indexed if domain in access.users[user]]

    def models(self, user: str | None) -> list[str]:
        """What ``user`` may ask for: ``auto``, each domain they may see, and each of its adapter versions."""
        domains = self.visible_domains(user)
        return ["auto", *domains, *(v.name for domain in domains for v in self.registry.versions(domain))]

    def domain_hints(self, domain: str) -> tuple[list[str], np.ndarray]:
        """The domain's description and example questions from config, and their vectors (embedded once)."""
        hints = self.settings.domains.get(domain)
        texts = [t for t in ([hints.description, *hints.examples] if hints else []) if t.strip()]
        if not texts:
            return [], np.zeros((0, self.embedder.dimension), dtype=np.float32)
        with self._loading:
            if domain not in self._hint_vectors:
                self._hint_vectors[domain] = np.asarray(self.embedder.embed(texts))
            return texts, self._hint_vectors[domain]

    def adapter_domain(self, requested: str) -> str | None:
        """The domain of an adapter asked for by name; a name the registry lacks is an error at once,
        even for a question that will not reach the adapter."""
        return None if requested in ("auto", "none") else self.registry.get(requested).card.domain

    def adapter_for(self, requested: str, domain: str | None, visible: Sequence[str]) -> str | None:
        """``auto``: the domain's active adapter if it has one; ``none``: the base; else the one named."""
        if requested == "none" or (requested == "auto" and domain is None):
            return None
        if requested == "auto":
            adapter = self.registry.active(domain)  # type: ignore[arg-type]
            if adapter is None:
                return None
        else:
            adapter = self.registry.get(requested)
            if self.settings.access.users and adapter.card.domain not in visible:  # access control
                raise UserError(f"unknown domain {adapter.card.domain!r}; known domains: {', '.join(visible)}")
        self.backend.load_adapter(adapter)
        return adapter.name

    @_loaded_once
    def graph(self) -> AnswerGraph:
        return build_graph(self)

    @_loaded_once
    def conversations(self) -> AnswerGraph:
        """The graph with its state checkpointed per thread in the data home: conversations persist."""
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
        from langgraph.checkpoint.sqlite import SqliteSaver

        self.settings.home.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.settings.conversations_db, check_same_thread=False)
        # Only our own result shapes may be revived from the file, besides LangGraph's safe types.
        allowed = [("assistant.core.results", model.__name__) for model in (Citation, Grade, Passage, Route)]
        return build_graph(self, SqliteSaver(connection, serde=JsonPlusSerializer(allowed_msgpack_modules=allowed)))

    def ingest(
        self,
        paths: Sequence[Path],
        domain: str,
        *,
        prune: bool = False,
        within: Sequence[Path] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestSummary:
        """Index the documents at ``paths``; with ``within``, only files that really lie under those folders."""
        check_domain_name(domain)
        files = discover(paths, within)  # a wrong name or path is one line before the index or a model loads
        with self.writing():
            return ingest_files(
                files,
                domain,
                index=self.index,
                manifest=self.manifest,
                lexical=self.lexical,
                settings=self.settings,
                prune_under=paths if prune else (),
                within=within,
                on_progress=on_progress,
            )

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Held by every write to the index: one writer at a time across processes."""
        with writing(self.settings.index_dir, self.settings.ingest.lock_timeout_s, self.on_wait) as write:
            self.follow_other_writers(locked=True)  # write on top of all the others wrote, to the last
            try:
                yield
            except Exception as err:
                if (full := disk_full(self.settings.index_dir)) is not None:
                    raise full from err
                raise
            finally:
                if isinstance(self.manifest, ServerManifest):
                    self.manifest.stamp(write.generation)  # other replicas follow this write
        self._index_generation = write.generation  # this process's own writes are in the index it holds

    def verify(self, domain: str | None = None, repair: bool = False) -> list[VerifyReport]:
        """Check that the manifest and the index agree, per domain; ``repair`` mends them (a write)."""
        with self.writing() if repair else nullcontext():
            return [
                verify_domain(d, self.index, self.manifest, self.lexical, repair) for d in self.known_domains(domain)
            ]

    def known_domains(self, domain: str | None = None) -> list[str]:
        """The named domain (which must exist), or every domain the manifest or the index knows."""
        known = sorted(set(self.manifest.domains()) | set(self.index.domains()))
        if domain is None:
            return known
        if domain not in known:
            raise UserError(f"unknown domain {domain!r}; known domains: {', '.join(known) or 'none'}")
        return [domain]

    def documents(self, domain: str | None = None) -> list[DocumentRecord]:
        return [record for name in self.known_domains(domain) for record in self.manifest.records(name)]

    def domain_stats(self, domain: str | None = None) -> list[dict[str, Any]]:
        """Documents and chunks per domain."""
        return [
            {"domain": name, "documents": len(self.manifest.records(name)), "chunks": self.index.count(name)}
            for name in self.known_domains(domain)
        ]

    def remove_documents(self, domain: str, names: Sequence[str] | None) -> dict[str, Any]:
        """Forget documents of a domain, each named by its path (its identity) or by a source name that only
        one of them has; all of them when ``names`` is None."""
        with self.writing():
            records = self.documents(domain)
            if names is not None:
                records = [_one_document(records, name, domain) for name in dict.fromkeys(names)]
            for record in records:
                forget(record, self.index, self.manifest)
            sync_lexical(domain, self.index, self.lexical)
        return {
            "domain": domain,
            "files_removed": len(records),
            "chunks_removed": sum(len(r.chunk_ids) for r in records),
        }

    def retrieve(
        self, question: str, domain: str = "auto", sources: list[str] | None = None, user: str | None = None
    ) -> RetrieveResult:
        inputs: AnswerState = {
            "question": question,
            "requested_domain": domain,
            "sources": sources,
            "user": user,
            "generate": False,
        }
        state = self._run(inputs)
        return RetrieveResult(citations=numbered(state["passages"]), **_route_fields(question, state))

    def retriever(self, domain: str) -> Callable[[str, int, list[str] | None], list[Passage]]:
        """Retrieval exactly as served (hybrid, MMR, reranker as configured) with a caller-chosen count:
        ``retrieve(question, k, sources)``. Adapter training builds its examples with it."""
        if domain not in self.index.domains():
            raise UserError(f"domain '{domain}' has no documents: ingest them first (`ingest PATH --domain {domain}`)")

        def retrieve(question: str, k: int, sources: list[str] | None) -> list[Passage]:
            settings = self.settings.with_overrides(retrieval={"k": k}).retrieval
            return retrieve_passages(self.index, self.lexical, question, domain, settings, sources)

        return retrieve

    def ask(
        self,
        question: str,
        domain: str = "auto",
        sources: list[str] | None = None,
        on_token: TokenCallback | None = None,
        adapter: str = "auto",
        user: str | None = None,
        thread: str | None = None,
        history: Sequence[tuple[str, str]] = (),
    ) -> AnswerResult:
        """Answer one question; with ``thread``, as the next turn of that conversation (kept in the data home);
        with ``history`` (earlier question/answer pairs, oldest first), as the next turn of those."""
        inputs: AnswerState = {
            "question": question,
            "requested_domain": domain,
            "requested_adapter": adapter,
            "sources": sources,
            "user": user,
        }
        if history:
            inputs["turns"] = turns_of(history)
        state = self._run(inputs, on_token, thread)
        return AnswerResult(
            adapter=state["adapter"],
            answer=state["answer"],
            citations=state["citations"],
            cited=state["cited"],
            refused=state["refused"],
            dropped_citations=state["dropped_citations"],
            thread=thread,
            # a refusal generated nothing; a thread's state may still hold the usage of its turn before
            usage=Usage(prompt_tokens=0, completion_tokens=0) if state["refused"] else state.get("usage"),
            **_route_fields(question, state),
        )

    def history(self, thread: str) -> list[Turn]:
        """The turns of a conversation so far, oldest first."""
        state = self.conversations.get_state({"configurable": {"thread_id": thread}})
        return list(state.values.get("turns", []))

    def _run(
        self, inputs: AnswerState, on_token: TokenCallback | None = None, thread: str | None = None
    ) -> AnswerState:
        started = time.perf_counter()
        limit = self.settings.limits.question_chars
        if len(inputs["question"]) > limit:
            raise UserError(
                f"the question has {len(inputs['question'])} characters, over the {limit} allowed "
                "(limits.question_chars)"
            )
        self.follow_other_writers()
        graph = self.graph if thread is None else self.conversations
        config: RunnableConfig = {"configurable": {"on_token": on_token, "thread_id": thread}}
        final: AnswerState = graph.invoke(inputs, config=config)  # type: ignore[assignment]
        total_ms = round((time.perf_counter() - started) * 1000, 1)
        final["timings_ms"] = {**final["timings_ms"], "total": total_ms}
        return final


def _one_document(records: Sequence[DocumentRecord], name: str, domain: str) -> DocumentRecord:
    """The document ``name`` names: two users' uploads (or two folders' files) may share a source name, and
    removing one must never remove the other."""
    by_path = [r for r in records if r.path == name]
    named = by_path or [r for r in records if r.source == name]
    if not named:
        raise UserError(f"no document {name} in domain {domain!r} (see `ingest list`)")
    if len(named) > 1:
        paths = ", ".join(r.path for r in named)
        raise UserError(f"{name!r} names {len(named)} documents in domain {domain!r}; name one by its path: {paths}")
    return named[0]


def _route_fields(question: str, state: AnswerState) -> dict[str, Any]:
    """What every result says about how the question was handled."""
    route = state["route"]
    return {
        "question": question,
        "domain": route.domain,
        "route": route,
        "grade": state["grade"],
        "timings_ms": state["timings_ms"],
    }
