"""The scale path: the same ingest and retrieval code against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from assistant.core.config import load_settings
from assistant.core.errors import UserError
from assistant.runtime import Runtime
from assistant.server import create_app
from ingest.manifest import DocumentRecord, LocalManifest
from ingest.server_manifest import COLLECTION, ServerManifest
from ingest.verify import verify_domain
from ingest.write_lock import writing

from . import servers
from .conftest import SAMPLES, invoke


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    with servers.chroma_server(tmp_path / "server-data") as url:
        yield url


@pytest.mark.model
def test_ingest_and_retrieve_through_a_chroma_server(home: Path, chroma_server: str) -> None:
    runtime = Runtime(load_settings(home=home, index={"chroma_url": chroma_server, "trusted_network": True}))
    summary = runtime.ingest([SAMPLES / "corpus" / "support"], "support")
    assert summary.files_added == 8 and not summary.files_failed
    assert runtime.retrieve("How do I factory reset the router?").citations[0].source == "factory-reset.md"
    assert not (home / "index" / "chroma").exists()  # nothing went to the embedded store

    reopened = Runtime(load_settings(home=home, index={"chroma_url": chroma_server, "trusted_network": True}))
    assert reopened.index.count("support") == summary.chunks_added
    assert verify_domain("support", reopened.index, reopened.manifest, reopened.lexical).ok
    assert reopened.ingest([SAMPLES / "corpus" / "support"], "support").files_unchanged == 8


@pytest.mark.model
def test_unreachable_server_is_one_clear_error(home: Path) -> None:
    runtime = Runtime(
        load_settings(
            home=home, index={"chroma_url": f"http://127.0.0.1:{servers.free_port()}", "trusted_network": True}
        )
    )
    with pytest.raises(UserError, match=r"cannot reach the Chroma server at http://127\.0\.0\.1:"):
        runtime.retrieve("anything")


@pytest.mark.model
def test_a_home_hands_the_manifest_it_kept_to_the_server(home: Path, chroma_server: str) -> None:
    settings = load_settings(home=home, index={"chroma_url": chroma_server, "trusted_network": True})
    runtime = Runtime(settings)
    runtime.ingest([SAMPLES / "corpus" / "support"], "support")
    records = runtime.documents("support")
    # As a home that kept its manifest locally, beside vectors on the server: one record's chunks are gone.
    local = LocalManifest(settings.index_dir / "manifest.sqlite")
    local.put([*records, DocumentRecord("support", "/gone.md", "gone.md", "Gone", "0" * 64, ("no-such-chunk",))])
    local.close()
    on_server = runtime.index.client.get_collection(COLLECTION)
    on_server.delete(ids=on_server.get(include=[])["ids"])

    adopted = Runtime(settings)
    assert [r.path for r in adopted.documents("support")] == [r.path for r in records], "all but /gone.md"
    assert not (settings.index_dir / "manifest.sqlite").exists()
    assert adopted.ingest([SAMPLES / "corpus" / "support"], "support").files_unchanged == 8


@pytest.mark.model
def test_a_replica_answers_while_its_home_is_being_written(home: Path, chroma_server: str) -> None:
    """Another replica wrote (a new generation on the server) while this home's own ingest holds its write lock:
    a question does not wait behind that ingest for the BM25 catch-up; it answers from what is there now."""
    runtime = Runtime(
        load_settings(
            home=home, index={"chroma_url": chroma_server, "trusted_network": True}, ingest={"lock_timeout_s": 1}
        )
    )
    runtime.ingest([SAMPLES / "corpus" / "support"], "support")
    manifest = runtime.manifest
    assert isinstance(manifest, ServerManifest)
    manifest.stamp("written-by-another-replica")
    with writing(runtime.settings.index_dir, 1, lambda message: None):  # as this home's long ingest would
        answered = runtime.retrieve("How do I factory reset the router?")
    assert answered.citations[0].source == "factory-reset.md"
    runtime.retrieve("How do I factory reset the router?")  # the lock free again: it catches up now
    assert runtime._index_generation == "written-by-another-replica"


@pytest.mark.model
def test_only_a_chroma_server_that_checks_the_token_is_used(home: Path, chroma_server: str, tmp_path: Path) -> None:
    """`chroma run` checks no token: behind a proxy that does, the index works with index.chroma_token, and
    refuses to start without it, with a wrong one, or against the open server itself."""
    with servers.token_proxy(chroma_server, "team-secret", tmp_path / "proxy") as proxied:
        runtime = Runtime(load_settings(home=home, index={"chroma_url": proxied, "chroma_token": "team-secret"}))
        assert runtime.ingest([SAMPLES / "corpus" / "support"], "support").files_added == 8
        assert runtime.retrieve("How do I factory reset the router?").citations[0].source == "factory-reset.md"
        refusals = {None: "refused a request without index.chroma_token", "guess": "refused index.chroma_token"}
        for token, refusal in refusals.items():
            settings = load_settings(
                home=tmp_path / f"home-{token}", index={"chroma_url": proxied, "chroma_token": token}
            )
            with pytest.raises(UserError, match=rf"{refusal} \(HTTP 401\)"):
                Runtime(settings).retrieve("anything")
    open_server = Runtime(load_settings(home=tmp_path / "open", index={"chroma_url": chroma_server}))
    with pytest.raises(UserError, match=r"lets in anyone who reaches it .* index.trusted_network"):
        open_server.retrieve("anything")


@pytest.mark.model
def test_a_chroma_server_that_stops_mid_run_is_one_line_and_loses_nothing(home: Path, tmp_path: Path) -> None:
    """Stopped under a running replica, the server's absence is one clear line for each command; restarted on
    its data, everything ingested before is there and agrees with the manifest, and ingest goes on."""
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    (home / "config.toml").write_text(f'[index]\nchroma_url = "{url}"\ntrusted_network = true\n')
    question = {"question": "How do I factory reset the router?"}
    with servers.chroma_server(tmp_path / "server-data", port):
        assert invoke("ingest", SAMPLES / "corpus" / "support", "-d", "support", home=home).returncode == 0
        replica = TestClient(create_app(Runtime(load_settings(home=home))), base_url="http://127.0.0.1")
        assert replica.post("/v1/retrieve", json=question).status_code == 200
    gone = replica.post("/v1/retrieve", json=question)  # the replica's connection, made while it was up
    assert gone.status_code == 503 and gone.headers["Retry-After"]
    assert f"{url} stopped answering" in gone.json()["error"]["message"]
    for command in (
        ("ingest", SAMPLES / "corpus" / "policy", "-d", "policy"),
        ("assistant", "retrieve", "How do I factory reset the router?"),
        ("ingest", "verify"),
    ):
        stopped = invoke(*command, home=home)
        assert stopped.returncode == 2, stopped.stderr
        lines = stopped.stderr.strip().splitlines()
        assert len(lines) == 1 and f"cannot reach the Chroma server at {url}" in lines[0], lines
    with servers.chroma_server(tmp_path / "server-data", port):
        assert invoke("ingest", "verify", home=home).returncode == 0
        runtime = Runtime(load_settings(home=home))
        assert runtime.domain_stats() == [
            {"domain": "support", "documents": 8, "chunks": runtime.index.count("support")}
        ]
        assert invoke("ingest", SAMPLES / "corpus" / "policy", "-d", "policy", home=home).returncode == 0
