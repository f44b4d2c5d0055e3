"""Replicas on shared engines: two `assistant serve` processes with data homes of their own, one `chroma run`
and one `python -m llama_cpp.server`, all on 127.0.0.1. What one side ingests, the other answers from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from assistant.core.config import load_settings
from assistant.core.models import resolve_gguf
from ingest.lexical import LexicalIndex

from .conftest import SAMPLES, home_sharing, run_cli
from .servers import assistant_server, chroma_server, llama_cpp_server
from .test_backend_openai import served_like_in_process

FACTORY_RESET = "How do I factory reset the router?"
pytestmark = pytest.mark.model


@dataclass(frozen=True)
class Replica:
    home: Path
    url: str

    def models(self) -> list[str]:
        return [m.id for m in openai.OpenAI(base_url=f"{self.url}/v1", api_key="none").models.list()]

    def ask(self, question: str) -> dict[str, object]:
        reply = openai.OpenAI(base_url=f"{self.url}/v1", api_key="none", timeout=300).chat.completions.create(
            model="support", messages=[{"role": "user", "content": question}]
        )
        choice = reply.choices[0]
        assert choice.model_extra is not None
        return {"answer": choice.message.content, "sources": [s["chunk_id"] for s in choice.model_extra["sources"]]}

    def passages(self, question: str) -> list[dict[str, object]]:
        reply = httpx.post(f"{self.url}/v1/retrieve", json={"question": question, "model": "support"}, timeout=300)
        reply.raise_for_status()
        return list(reply.json()["citations"])

    def retrieve(self, question: str) -> list[tuple[object, object]]:
        return [(p["chunk_id"], p["score"]) for p in self.passages(question)]

    def sources(self, question: str) -> set[object]:
        return {p["source"] for p in self.passages(question)}


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, sample_home: Path) -> Iterator[tuple[Replica, Replica]]:
    """Two replicas started before anything is indexed, on a Chroma server and a generator server."""
    root = tmp_path_factory.mktemp("replicas")
    settings = load_settings(home=sample_home)
    base = {**served_like_in_process(resolve_gguf(settings), settings), "model_alias": "base"}
    with (
        chroma_server(root / "chroma") as chroma,
        llama_cpp_server([base], Path(tmp_path_factory.mktemp("llm"))) as llm,
    ):
        homes = []
        for name in ("a", "b"):
            home = home_sharing(root / name, sample_home, "models")
            (home / "config.toml").write_text(
                f'[index]\nchroma_url = "{chroma}"\ntrusted_network = true\n\n'
                '[llm]\nbackend = "openai"\nmax_tokens = 48\n\n'
                f'[llm.openai]\nbase_url = "{llm}"\n'
            )
            homes.append(home)
        with assistant_server(homes[0]) as a, assistant_server(homes[1]) as b:
            yield Replica(homes[0], a), Replica(homes[1], b)


def test_a_replica_answers_from_documents_another_home_ingested(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    with pytest.raises(openai.BadRequestError, match="the index is empty"):
        b.models()

    ingested = run_cli("ingest", SAMPLES / "corpus" / "support", "--domain", "support", "--json", home=a.home)
    assert ingested.returncode == 0, ingested.stderr
    assert ingested.json()["files_added"] == 8

    assert b.models() == ["auto", "support"], "the running replica sees the new domain"
    assert b.retrieve(FACTORY_RESET) == a.retrieve(FACTORY_RESET), "the same passages, BM25 fusion included"
    lexical = LexicalIndex(b.home / "index" / "bm25")
    assert lexical.search("support", "factory reset pinhole", 3), "b built its BM25 index from the server's chunks"
    # The text may differ in a near-tied greedy token: llama_cpp.server reuses the KV cache of an identical prompt.
    answers = b.ask(FACTORY_RESET), a.ask(FACTORY_RESET)
    assert answers[0]["answer"] and answers[0]["sources"] == answers[1]["sources"] != [], "answered from one index"


def test_what_was_ingested_is_shared_so_the_other_home_skips_and_removes_it(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    again = run_cli("ingest", SAMPLES / "corpus" / "support", "--domain", "support", "--json", home=b.home)
    assert again.returncode == 0, again.stderr
    assert again.json()["files_unchanged"] == 8 and again.json()["files_added"] == 0, "b's home knows a's documents"

    removed = run_cli("ingest", "remove", "factory-reset.md", "--domain", "support", "--json", home=b.home)
    assert removed.returncode == 0, removed.stderr
    assert "factory-reset.md" not in a.sources(FACTORY_RESET), "a follows b's removal"
    listed = {d["source"] for d in run_cli("ingest", "list", "--json", home=a.home).json()["documents"]}
    assert len(listed) == 7 and "factory-reset.md" not in listed
