"""`assistant serve` as a client nobody here wrote sees it: the official ``openai`` package against a real
server process on 127.0.0.1, over the sample index and the real Gemma GGUF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam
from openai.types.chat.chat_completion import Choice
from pydantic import BaseModel

from .conftest import home_sharing, run_cli
from .servers import assistant_server, free_port

CONFIG = """
[access]
users = {alice = ["support"], bob = ["support", "policy"]}

[serve]
max_queue = 2
api_keys = {"key-bob" = "bob", "key-alice" = "alice", "key-app" = "*"}
"""
FACTORY_RESET = "How do I factory reset the router?"
# What a process asking through a server has no need to load
LOADED_IN_THE_SERVER = ["chromadb", "langgraph", "llama_cpp", "onnxruntime", "bm25s", "torch", "transformers"]
GIFT_CARD = "Can I accept a gift card from a supplier?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_home: Path) -> Iterator[str]:
    """A served sample index: bob sees both domains, alice only support; a queue of two places."""
    home = home_sharing(tmp_path_factory.mktemp("serve") / "home", sample_home, "models", "index")
    (home / "config.toml").write_text(CONFIG)
    with assistant_server(home) as url:
        yield url


def client(url: str, key: str = "key-bob") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=300)


def ask(url: str, question: str, model: str = "auto", key: str = "key-bob") -> Any:
    return client(url, key).chat.completions.create(model=model, messages=[{"role": "user", "content": question}])


def streamed(url: str, question: str, model: str = "auto") -> tuple[str, Any]:
    chunks = list(
        client(url).chat.completions.create(model=model, messages=[{"role": "user", "content": question}], stream=True)
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1]


def test_models_are_auto_each_visible_domain_and_each_adapter(server: str) -> None:
    assert [m.id for m in client(server).models.list()] == ["auto", "policy", "support"]
    assert [m.id for m in client(server, "key-alice").models.list()] == ["auto", "support"]


def test_an_answer_keeps_its_markers_and_brings_its_sources(server: str) -> None:
    reply = ask(server, FACTORY_RESET)
    choice = reply.choices[0]
    assert choice.message.content and choice.finish_reason == "stop"
    sources = choice.model_extra["sources"]
    assert sources and {"n", "source", "title", "chunk_id", "score", "text"} <= set(sources[0])
    assert "factory-reset.md" in [s["source"] for s in sources]
    about = reply.model_extra["assistant"]
    assert about["domain"] == "support" and about["refused"] is False and about["adapter"] is None


def test_a_stream_is_the_same_answer_with_its_sources_last(server: str) -> None:
    alone = ask(server, GIFT_CARD).choices[0].message.content
    text, last = streamed(server, GIFT_CARD)
    assert text == alone
    assert last.choices[0].finish_reason == "stop"
    assert last.choices[0].model_extra["sources"] and last.model_extra["assistant"]["domain"] == "policy"


def _fields_beyond(model: type[BaseModel], raw: dict[str, Any], ours: set[str]) -> set[str]:
    """Keys of ``raw`` that the openai package's type does not declare, less our documented extensions."""
    return set(raw) - set(model.model_fields) - ours


def test_replies_have_the_shape_of_openais_own_with_their_usage(server: str) -> None:
    """Field by field against the openai package's types: a client that reads usage (simonw's llm does, and
    failed on its absence) gets it, streamed or not, and a refusal reports its usage too."""
    headers = {"Authorization": "Bearer key-bob"}
    body = {"model": "auto", "messages": [{"role": "user", "content": FACTORY_RESET}]}
    raw = httpx.post(f"{server}/v1/chat/completions", json=body, headers=headers, timeout=300).json()
    reply = ChatCompletion.model_validate(raw)
    assert _fields_beyond(ChatCompletion, raw, {"assistant"}) == set()
    assert _fields_beyond(Choice, raw["choices"][0], {"sources"}) == set()
    assert reply.object == "chat.completion" and abs(reply.created - time.time()) < 600
    assert reply.choices[0].finish_reason in ("stop", "length")
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens > 100 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    chunks = list(
        client(server).chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": FACTORY_RESET}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    *answer, last = chunks
    assert last.choices == [] and last.usage == usage, "the same answer costs the same tokens"
    assert all(c.usage is None for c in answer) and answer[-1].choices[0].finish_reason == "stop"

    refused = ask(server, "Who won the 1966 football World Cup final?")
    assert refused.model_extra["assistant"]["refused"]
    assert refused.usage is not None and (refused.usage.prompt_tokens, refused.usage.completion_tokens) == (0, 0)


def test_unknown_models_keys_and_domains_are_refused(server: str) -> None:
    with pytest.raises(openai.NotFoundError, match=r"served models: auto, policy, support"):
        ask(server, FACTORY_RESET, model="legal")
    with pytest.raises(openai.NotFoundError, match="unknown model 'policy'"):
        ask(server, GIFT_CARD, model="policy", key="key-alice")  # alice may not see policy
    with pytest.raises(openai.AuthenticationError):
        ask(server, FACTORY_RESET, key="not-a-key")
    reply = ask(server, GIFT_CARD, key="key-alice")  # routed among her domains only
    assert reply.model_extra["assistant"]["domain"] in (None, "support")
    assert all(s["domain"] == "support" for s in reply.choices[0].model_extra["sources"])


def test_fifty_streaming_clients_get_the_answer_alone_or_a_429_never_a_hang(server: str) -> None:
    """One model, a queue of two: the requests it takes stream exactly the answer the question gets alone;
    the rest are turned away at once with Retry-After."""
    alone, _ = streamed(server, FACTORY_RESET)

    def one(_: int) -> tuple[int, str]:
        body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": FACTORY_RESET}]}
        headers = {"Authorization": "Bearer key-bob"}
        with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, headers=headers, timeout=300) as reply:
            if reply.status_code == 429:
                assert int(reply.headers["Retry-After"]) > 0
                return 429, ""
            chunks = [json.loads(line[6:]) for line in reply.iter_lines() if line.startswith("data: {")]
            return reply.status_code, "".join(
                c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
            )

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    codes = [code for code, _ in results]
    assert set(codes) <= {200, 429} and codes.count(200) >= 3 and codes.count(429) >= 40, codes
    assert all(text == alone for code, text in results if code == 200)


def test_a_conversation_follows_up_on_its_earlier_turns(server: str) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": FACTORY_RESET},
        {"role": "assistant", "content": "Hold the reset pinhole for 10 seconds [1]."},
        {"role": "user", "content": "How long does that take?"},
    ]
    reply = client(server).chat.completions.create(model="auto", messages=messages)
    extra, choice_extra = reply.model_extra, reply.choices[0].model_extra  # the server's fields beyond OpenAI's
    assert extra is not None and choice_extra is not None
    assert extra["assistant"]["domain"] == "support"
    assert "factory-reset.md" in [s["source"] for s in choice_extra["sources"]]


def test_serving_beyond_loopback_needs_api_keys(home: Path) -> None:
    done = run_cli("assistant", "serve", "--host", "0.0.0.0", home=home)
    assert done.returncode != 0 and "set serve.api_keys first" in done.stderr


def test_a_client_that_goes_away_stops_its_generation(server: str) -> None:
    def health() -> dict[str, int]:
        return httpx.get(f"{server}/health", timeout=10).json()

    before = health()["stopped_by_disconnect"]
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": FACTORY_RESET}]}
    headers = {"Authorization": "Bearer key-bob"}
    with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, headers=headers, timeout=300) as reply:
        tokens = 0
        for line in reply.iter_lines():
            tokens += '"content": "' in line and '"content": ""' not in line
            if tokens == 2:
                break  # leave after two tokens, as a closed browser tab does
    deadline = time.monotonic() + 120
    while health()["requests"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health() == {"status": "ok", "requests": 0, "stopped_by_disconnect": before + 1}


def test_ask_and_retrieve_through_a_running_server_load_nothing_here(server: str, tmp_path: Path) -> None:
    """With client.url, a new `ask` on an empty data home gets the server's answer, as its key's user, and
    imports none of the index, graph or model libraries."""
    empty = tmp_path / "empty-home"
    env = {**os.environ, "ASSISTANT_HOME": str(empty), "ASSISTANT_CLIENT__URL": server}
    env["ASSISTANT_CLIENT__API_KEY"] = "key-alice"
    script = (
        "import json, sys\n"
        "from assistant.cli.main import main\n"
        f"sys.argv = ['assistant', 'ask', {FACTORY_RESET!r}, '--json']\n"
        "try:\n    main()\nexcept SystemExit as exit_:\n    assert not exit_.code, exit_.code\n"
        f"print(json.dumps([m for m in {LOADED_IN_THE_SERVER!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    answered = json.loads(done.stdout)
    served = ask(server, FACTORY_RESET, key="key-alice")
    assert answered["answer"] == served.choices[0].message.content
    assert answered["citations"] == served.choices[0].model_extra["sources"]
    assert answered["domain"] == "support" and not empty.exists()  # nothing was loaded or written here

    shown = run_cli("assistant", "ask", FACTORY_RESET, home=empty, env=env)  # streamed to the terminal
    assert shown.returncode == 0 and answered["answer"] in shown.stdout and "factory-reset.md" in shown.stdout
    off_topic = "Who won the 1966 football World Cup final?"
    refusal = json.loads(run_cli("assistant", "ask", off_topic, "--json", home=empty, env=env).stdout)
    assert refusal["refused"]
    assert run_cli("assistant", "ask", off_topic, home=empty, env=env).stdout.count(refusal["answer"]) == 1

    passages = run_cli("assistant", "retrieve", FACTORY_RESET, "--json", home=empty, env=env)
    direct = httpx.post(
        f"{server}/v1/retrieve", json={"question": FACTORY_RESET}, headers={"Authorization": "Bearer key-alice"}
    ).json()
    assert json.loads(passages.stdout)["citations"] == direct["citations"]

    refused = run_cli("assistant", "ask", GIFT_CARD, "--domain", "policy", home=empty, env=env)
    assert refused.returncode == 2 and "unknown model 'policy'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    chosen = run_cli("assistant", "ask", FACTORY_RESET, "--user", "bob", home=empty, env=env)
    assert chosen.returncode == 2 and "this API key asks as 'alice'" in chosen.stderr  # the key says who asks
    unknown = run_cli("assistant", "ask", FACTORY_RESET, "--adapter", "support@9", home=empty, env=env)
    assert unknown.returncode == 2 and "unknown adapter 'support@9'" in unknown.stderr


def test_a_front_ends_key_names_the_user_of_each_request_and_a_users_key_cannot(server: str) -> None:
    app = {"Authorization": "Bearer key-app"}

    def models(user: str) -> list[str]:
        listed = httpx.get(f"{server}/v1/models", params={"user": user}, headers=app).json()
        return [m["id"] for m in listed["data"]]

    assert models("alice") == ["auto", "support"] and models("bob") == ["auto", "policy", "support"]
    as_alice = {"question": GIFT_CARD, "model": "policy", "user": "alice"}
    assert httpx.post(f"{server}/v1/retrieve", json=as_alice, headers=app).status_code == 404, "alice sees no policy"
    nobody = httpx.post(f"{server}/v1/retrieve", json={"question": GIFT_CARD}, headers=app)
    assert nobody.status_code == 400 and "name the user" in nobody.json()["error"]["message"]
    posing = httpx.post(f"{server}/v1/retrieve", json=as_alice, headers={"Authorization": "Bearer key-bob"})
    assert posing.status_code == 403


def test_ask_with_no_server_at_client_url_says_so_in_one_line(tmp_path: Path) -> None:
    env = {"ASSISTANT_CLIENT__URL": f"http://127.0.0.1:{free_port()}"}
    done = run_cli("assistant", "ask", FACTORY_RESET, home=tmp_path / "home", env=env)
    assert done.returncode == 2 and "no assistant server answers at" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
