"""The vector index: one Chroma collection per domain, under the data home.

Each collection records the embedding model it was built with; opening it with
another model is refused, since its vectors would be meaningless to the query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings

from assistant.core.errors import Unavailable, UserError
from assistant.core.results import Passage
from ingest.embedder import ChromaEmbedding, Embedder

Where = dict[str, Any]  # a Chroma metadata filter, e.g. {"source": {"$in": ["a.md"]}}

_TOKEN_CLIENT = "chromadb.auth.token_authn.TokenAuthClientProvider"
_PREFIX = "domain_"
_DOMAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
RESERVED_DOMAIN_NAMES = {"auto", "all", "none"}


def check_domain_name(name: str) -> str:
    if not _DOMAIN_NAME.match(name) or name in RESERVED_DOMAIN_NAMES:
        raise UserError(
            f"invalid domain name {name!r}: use 1-48 lowercase letters, digits, '-' or '_' "
            f"(not {', '.join(sorted(RESERVED_DOMAIN_NAMES))})"
        )
    return name


@dataclass(frozen=True)
class ChromaServer:
    """A Chroma server shared by replicas, and the token its requests carry."""

    url: str
    token: str | None = None
    trusted_network: bool = False  # an open server (no token checked) is used, not refused


class Index:
    def __init__(self, path: Path, embedder: Embedder, server: ChromaServer | None = None) -> None:
        """Embedded Chroma under ``path``, or the Chroma ``server``: the same code either way."""
        self.embedder = embedder
        self.client = _connect(path) if server is None else _connect_server(server)
        self._function = ChromaEmbedding(embedder)
        self._collections: dict[str, Collection] = {}

    @staticmethod
    def forget_open_clients() -> None:
        """Let the next embedded client load the index from disk again: Chroma shares one per path and process,
        with the vectors it read at first. Clients already open keep working on what they hold."""
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()

    def domains(self) -> list[str]:
        """Domains that hold at least one chunk, sorted."""
        names = (c.name.removeprefix(_PREFIX) for c in self.client.list_collections() if c.name.startswith(_PREFIX))
        return sorted(d for d in names if self.count(d) > 0)

    def count(self, domain: str) -> int:
        collection = self._open(domain, create=False)
        return collection.count() if collection else 0

    def all_ids(self, domain: str) -> set[str]:
        collection = self._open(domain, create=False)
        return set(collection.get(include=[])["ids"]) if collection else set()

    def existing_ids(self, domain: str, ids: Sequence[str]) -> set[str]:
        collection = self._open(domain, create=False)
        if collection is None or not ids:
            return set()
        return set(collection.get(ids=list(ids), include=[])["ids"])

    def add(
        self,
        domain: str,
        ids: list[str],
        texts: list[str],
        metadatas: list[dict[str, Any]],
        vectors: np.ndarray,
    ) -> None:
        collection = self._open(domain, create=True)
        assert collection is not None
        collection.upsert(ids=ids, documents=texts, metadatas=metadatas, embeddings=vectors)  # type: ignore[arg-type]

    def delete(self, domain: str, ids: Sequence[str]) -> None:
        collection = self._open(domain, create=False)
        if collection is not None and ids:
            collection.delete(ids=list(ids))

    def search(self, domain: str, query: Sequence[float], k: int, where: Where | None = None) -> list[Passage]:
        """The ``k`` chunks of ``domain`` nearest to the query vector, best first; ``where`` filters metadata."""
        collection = self._open(domain, create=False)
        if collection is None:
            return []
        found = collection.query(
            query_embeddings=np.asarray([query], dtype=np.float32),
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        docs, metas, dists = found["documents"], found["metadatas"], found["distances"]
        assert docs is not None and metas is not None and dists is not None
        return [
            _passage(domain, chunk_id, text, meta, 1.0 - float(distance))
            for chunk_id, text, meta, distance in zip(found["ids"][0], docs[0], metas[0], dists[0], strict=True)
        ]

    def fetch(self, domain: str, ids: Sequence[str], query: Sequence[float]) -> dict[str, tuple[Passage, np.ndarray]]:
        """Chunks by id with their vectors, scored against the query vector."""
        collection = self._open(domain, create=False)
        if collection is None or not ids:
            return {}
        found = collection.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        docs, metas, vectors = found["documents"], found["metadatas"], found["embeddings"]
        assert docs is not None and metas is not None and vectors is not None
        query_vector = np.asarray(query, dtype=np.float32)
        fetched = {}
        for chunk_id, text, meta, vector in zip(found["ids"], docs, metas, vectors, strict=True):
            vector = np.asarray(vector, dtype=np.float32)
            fetched[chunk_id] = (_passage(domain, chunk_id, text, meta, float(vector @ query_vector)), vector)
        return fetched

    def ids_where(self, domain: str, where: Where) -> set[str]:
        collection = self._open(domain, create=False)
        return set(collection.get(where=where, include=[])["ids"]) if collection else set()

    def chunks(self, domain: str) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """Every chunk of the domain as (ids, texts, metadatas), for rebuilding derived indexes."""
        collection = self._open(domain, create=False)
        if collection is None:
            return [], [], []
        found = collection.get(include=["documents", "metadatas"])
        return list(found["ids"]), list(found["documents"] or []), [dict(m) for m in found["metadatas"] or []]

    def _open(self, domain: str, *, create: bool) -> Collection | None:
        if domain in self._collections:
            return self._collections[domain]
        name = _PREFIX + check_domain_name(domain)
        model = {"embedding_model": self.embedder.model_id, "embedding_dimension": self.embedder.dimension}
        if create:
            collection = self.client.get_or_create_collection(
                name,
                embedding_function=self._function,  # type: ignore[arg-type]
                metadata=model,
            )
        else:
            try:
                collection = self.client.get_collection(name, embedding_function=self._function)  # type: ignore[arg-type]
            except chromadb.errors.NotFoundError:
                return None
        built_with = (collection.metadata or {}).get("embedding_model")
        if built_with != self.embedder.model_id:
            raise UserError(
                f"domain {domain!r} was indexed with embedding model {built_with!r}, but the configured one is "
                f"{self.embedder.model_id!r}: switch embedding.model back or re-ingest the domain"
            )
        self._collections[domain] = collection
        return collection


def _connect(path: Path) -> ClientAPI:
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def _connect_server(server: ChromaServer) -> ClientAPI:
    """A client of ``server`` with its token (Chroma's own token client), once the server proves it keeps
    strangers out: the index holds every domain's chunks and the manifest, past ``access.users``."""
    _check_the_door(server)
    url = urlsplit(server.url)
    settings = ChromaSettings(anonymized_telemetry=False)
    if server.token:
        settings = ChromaSettings(
            anonymized_telemetry=False,
            chroma_client_auth_provider=_TOKEN_CLIENT,
            chroma_client_auth_credentials=server.token,
        )
    try:
        client = chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=settings,
        )
        client.heartbeat()
    except Exception as err:  # chromadb raises plain ValueError/ConnectionError variants here
        raise Unavailable(f"cannot reach the Chroma server at {server.url}: {err}") from None
    return client


def _check_the_door(server: ChromaServer) -> None:
    """Ask with the token, and as a stranger would, without one: a server that answers the stranger lets
    anyone read and rewrite the index, and one that turns the token away is not ours to use."""
    import httpx

    listing = f"{server.url.rstrip('/')}/api/v2/tenants/default_tenant/databases/default_database/collections"
    try:
        stranger = httpx.get(listing, timeout=10)
        ours = (
            httpx.get(listing, headers={"Authorization": f"Bearer {server.token}"}, timeout=10)
            if server.token
            else stranger
        )
    except httpx.HTTPError as err:
        raise Unavailable(f"cannot reach the Chroma server at {server.url}: {err}") from None
    if ours.status_code in (401, 403):
        what = "index.chroma_token" if server.token else "a request without index.chroma_token"
        raise UserError(f"the Chroma server at {server.url} refused {what} (HTTP {ours.status_code})")
    if stranger.status_code < 400 and not server.trusted_network:
        raise UserError(
            f"the Chroma server at {server.url} lets in anyone who reaches it (it answered a request with no "
            "token): put it behind a proxy that checks index.chroma_token (see the README), or set "
            "index.trusted_network = true if everyone who can reach it may read and rewrite every domain"
        )


def _passage(domain: str, chunk_id: str, text: str, meta: Mapping[str, Any], score: float) -> Passage:
    return Passage(
        chunk_id=chunk_id,
        domain=domain,
        source=str(meta["source"]),
        title=str(meta["title"]),
        section=str(meta.get("section", "")),
        page=int(meta["page"]) if "page" in meta else None,
        text=text,
        score=round(score, 4),
    )
