"""The API's edges, in process (Starlette's test client over the real app, index and models): who a request
may ask as on a server without keys, which host names it answers, and what one request may ask of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from assistant.core.config import load_settings
from assistant.runtime import Runtime
from assistant.server import create_app

from .conftest import home_sharing, invoke

ACCESS = '[access]\nusers = {alice = ["support"], bob = ["support", "policy"]}\ndefault_user = "alice"\n'
LIMITS = "[limits]\nquestion_chars = 200\nmessages = 4\nrequest_kb = 64\n"
QUESTION = "How do I factory reset the router?"


@pytest.fixture(scope="module")
def limited_home(tmp_path_factory: pytest.TempPathFactory, sample_home: Path) -> Path:
    home = home_sharing(tmp_path_factory.mktemp("limits") / "home", sample_home, "models", "index")
    (home / "config.toml").write_text(ACCESS + LIMITS)
    return home


def _client(home: Path, extra_config: str = "") -> Iterator[TestClient]:
    if extra_config:
        (home / "config.toml").write_text(ACCESS + LIMITS + extra_config)
    with TestClient(create_app(Runtime(load_settings(home=home))), base_url="http://127.0.0.1:8000") as client:
        yield client


@pytest.fixture(scope="module")
def keyless(limited_home: Path) -> Iterator[TestClient]:
    yield from _client(limited_home)


def _chat(messages: list[dict[str, str]]) -> dict[str, object]:
    return {"model": "auto", "messages": messages}


def test_a_server_without_keys_answers_as_the_default_user_only(keyless: TestClient) -> None:
    assert [m["id"] for m in keyless.get("/v1/models").json()["data"]] == ["auto", "support"]  # alice's
    posing = keyless.get("/v1/models", params={"user": "bob"})
    assert posing.status_code == 403 and "cannot tell who asks" in posing.json()["error"]["message"]
    retrieve = keyless.post("/v1/retrieve", json={"question": QUESTION, "model": "policy", "user": "bob"})
    assert retrieve.status_code == 403


def test_a_server_without_keys_answers_loopback_host_names_only(keyless: TestClient) -> None:
    """A page elsewhere that renames itself to 127.0.0.1 (DNS rebinding) still sends its own Host header."""
    rebound = keyless.get("/v1/models", headers={"Host": "rebind.example:8000"})
    assert rebound.status_code == 400
    for host in ("127.0.0.1:8000", "localhost:8000"):
        assert keyless.get("/health", headers={"Host": host}).status_code == 200


def test_a_body_over_the_limit_is_refused_before_it_is_read(keyless: TestClient) -> None:
    big = json.dumps(_chat([{"role": "user", "content": "x" * 70_000}]))
    declared = keyless.post("/v1/chat/completions", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "limits.request_kb" in declared.json()["error"]["message"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192].encode()

    streamed = keyless.post("/v1/chat/completions", content=chunked(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_too_many_messages_or_too_long_a_question_is_refused_in_one_line(
    keyless: TestClient, limited_home: Path
) -> None:
    many = [{"role": "user" if n % 2 == 0 else "assistant", "content": "hi"} for n in range(5)]
    refused = keyless.post("/v1/chat/completions", json=_chat(many))
    assert refused.status_code == 413 and "limits.messages" in refused.json()["error"]["message"]
    long = keyless.post("/v1/chat/completions", json=_chat([{"role": "user", "content": "why " * 60}]))
    assert long.status_code == 400 and "limits.question_chars" in long.json()["error"]["message"]
    cli = invoke("assistant", "ask", "why " * 60, home=limited_home)
    assert cli.returncode == 2 and "over the 200 allowed (limits.question_chars)" in cli.stderr


def test_with_keys_an_unauthenticated_oversized_body_is_refused_for_its_size(limited_home: Path) -> None:
    for client in _client(limited_home, '[serve]\napi_keys = {"key-bob" = "bob"}\n'):
        big = json.dumps(_chat([{"role": "user", "content": "x" * 70_000}]))
        assert client.post("/v1/chat/completions", content=big).status_code == 413
        assert client.get("/v1/models", headers={"Host": "assistant.example.com"}).status_code == 401


def test_a_generator_server_that_stopped_is_a_503_with_retry_after(limited_home: Path, tmp_path: Path) -> None:
    """llm.backend = "openai" with nothing listening at its address (a stopped llama.cpp server): the answer is
    503 with Retry-After at once, streamed or not, never a hang or a 400 that blames the request."""
    from .servers import free_port

    home = home_sharing(tmp_path / "home", limited_home, "models", "index")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    (home / "config.toml").write_text(ACCESS + f'[llm]\nbackend = "openai"\n[llm.openai]\nbase_url = "{dead}"\n')
    for client in _client(home):
        refused = client.post("/v1/chat/completions", json=_chat([{"role": "user", "content": QUESTION}]))
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
        assert "cannot reach the OpenAI-compatible server" in refused.json()["error"]["message"]
        streamed = client.post(
            "/v1/chat/completions", json={**_chat([{"role": "user", "content": QUESTION}]), "stream": True}
        )
        assert '"type": "server_error"' in streamed.text and "cannot reach" in streamed.text
