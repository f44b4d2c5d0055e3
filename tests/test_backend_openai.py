"""The openai backend against a real OpenAI-compatible server: llama-cpp-python's, on 127.0.0.1, serving the
base GGUF as "base" and the support@1 LoRA export as "support@1". Its answers must be the in-process
llama.cpp backend's, token for token: same weights, same greedy decoding."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.registry import Registry
from assistant.backends import create_backend
from assistant.core.config import Settings, load_settings
from assistant.core.errors import UserError
from assistant.core.models import resolve_gguf
from assistant.runtime import Runtime
from eval.judge import judge_prompt, parse_verdict, verdict_grammar

from .conftest import sample_questions
from .servers import free_port, llama_cpp_server


@pytest.fixture(scope="module")
def server(served_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's /v1 URL. Its log is kept beside its config, for debugging."""
    settings = load_settings(home=served_home)
    support = Registry(settings.adapters_dir).get("support@1")
    model = served_like_in_process(resolve_gguf(settings), settings)
    models = [
        {**model, "model_alias": "base"},
        {**model, "model_alias": "support@1", "lora_path": support.card.exports["lora"]["path"]},
    ]
    with llama_cpp_server(models, tmp_path_factory.mktemp("openai-server")) as url:
        yield url


def served_like_in_process(gguf: Path, settings: Settings) -> dict[str, object]:
    """A server model entry loaded as the in-process backend loads it. The server's default of logits for every
    prompt token would not change a greedy answer, but doubles the time to the first token."""
    llm = settings.llm
    return {"model": str(gguf), "n_ctx": llm.n_ctx, "seed": llm.seed, "logits_all": False, "verbose": False}


def _settings(home: Path, **llm: object) -> Settings:
    """Short answers to short prompts (two passages) keep the real model quick; both backends get the same.

    One decoding thread in-process, as on the server (its default, half the cores): on a busy 2-core machine
    two decoding threads waiting on each other took ~3 s a token instead of ~0.1 s. Thread counts do not
    change llama.cpp's results."""
    return load_settings(home=home, llm={"max_tokens": 32, "n_threads": 1, **llm}, retrieval={"k": 2})


def _openai_settings(home: Path, url: str, **openai: object) -> Settings:
    return _settings(home, backend="openai", openai={"base_url": url, **openai})


def test_answers_over_the_server_are_the_in_process_answers(server: str, served_home: Path) -> None:
    question = next(str(q["question"]) for q in sample_questions() if q["domain"] == "support")
    over_server = Runtime(_openai_settings(served_home, server))
    in_process = Runtime(_settings(served_home))
    # Base first, then the adapter, so that the server also answers each from an empty KV cache (it reloads
    # its model to switch aliases; the in-process backend resets before every request). A cached prompt
    # prefix is evaluated in other batch sizes, whose logits differ in the last bits: enough to flip a
    # greedy token (e.g. '"' for '“'), so equality holds only between like cache states.
    answers = {}
    for adapter in ("none", "support@1"):
        remote = over_server.ask(question, domain="support", adapter=adapter)
        local = in_process.ask(question, domain="support", adapter=adapter)
        assert remote.adapter == local.adapter == (None if adapter == "none" else adapter)
        assert remote.answer, remote
        assert remote.answer == local.answer
        answers[adapter] = remote.answer
    assert answers["none"] != answers["support@1"]


def test_an_adapter_the_server_does_not_serve_is_refused_naming_what_it_serves(server: str, served_home: Path) -> None:
    settings = _openai_settings(served_home, server)
    policy = Registry(settings.adapters_dir).get("policy@1")
    with pytest.raises(UserError, match=rf"at {server} does not serve model 'policy@1' .*it serves: base, support@1$"):
        create_backend(settings).load_adapter(policy)
    # Under another name the server does serve, it is accepted: the name is all this backend can check.
    mapped = _openai_settings(served_home, server, adapter_models={"policy@1": "support@1"})
    create_backend(mapped).load_adapter(policy)


def test_a_server_that_is_not_running_is_named(home: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(UserError, match=rf"^cannot reach the OpenAI-compatible server at {url}: .*refused"):
        create_backend(_openai_settings(home, url))


def test_an_unset_server_url_says_what_to_set(home: Path) -> None:
    with pytest.raises(UserError, match=r"llm\.openai\.base_url is not set"):
        create_backend(load_settings(home=home, llm={"backend": "openai"}))


def test_the_judge_grammar_reaches_the_server(server: str, served_home: Path) -> None:
    """Sent as the server's ``grammar`` field, it keeps the served model to the verdict schema: the same
    prompt unconstrained gets free text."""
    backend = create_backend(_openai_settings(served_home, server))
    passage = "Hold the reset button for 10 seconds until the status LED blinks amber. The router then restarts twice."
    prompt = judge_prompt("Hold the reset button for 10 seconds [1].", [passage])
    constrained = "".join(backend.stream(prompt, None, verdict_grammar()))
    assert parse_verdict(constrained.strip()) is not None, constrained
    free = "".join(backend.stream(prompt, None))
    assert parse_verdict(free.strip()) is None, free
