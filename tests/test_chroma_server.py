"""The scale path: the same ingest and retrieval code against a real `chroma run` server on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.core.config import load_settings
from assistant.core.errors import UserError
from assistant.runtime import Runtime
from ingest.verify import verify_domain

from .conftest import BIN, SAMPLES


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [
            str(BIN / "chroma"),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("chroma server did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.model
def test_ingest_and_retrieve_through_a_chroma_server(home: Path, chroma_server: str) -> None:
    runtime = Runtime(load_settings(home=home, index={"chroma_url": chroma_server}))
    summary = runtime.ingest([SAMPLES / "corpus" / "support"], "support")
    assert summary.files_added == 8 and not summary.files_failed
    assert runtime.retrieve("How do I factory reset the router?").citations[0].source == "factory-reset.md"
    assert not (home / "index" / "chroma").exists()  # nothing went to the embedded store

    reopened = Runtime(load_settings(home=home, index={"chroma_url": chroma_server}))
    assert reopened.index.count("support") == summary.chunks_added
    assert verify_domain("support", reopened.index, reopened.manifest, reopened.lexical).ok
    assert reopened.ingest([SAMPLES / "corpus" / "support"], "support").files_unchanged == 8


@pytest.mark.model
def test_unreachable_server_is_one_clear_error(home: Path) -> None:
    runtime = Runtime(load_settings(home=home, index={"chroma_url": f"http://127.0.0.1:{_free_port()}"}))
    with pytest.raises(UserError, match=r"cannot reach the Chroma server at http://127\.0\.0\.1:"):
        runtime.retrieve("anything")
