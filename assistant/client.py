"""A running `assistant serve`, asked over HTTP: what `ask` and `retrieve` use when the config names a server.

The models, the index and the graph stay loaded in the server, so a question asked from a new process costs
one HTTP request rather than loading them: this module imports only the base layer and ``httpx``. The
answers are the server's, in the shapes the in-process ``Runtime`` returns (``assistant.server`` writes
them: the sources in ``choices[0].sources``, the route and grade in ``assistant``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic import ValidationError

from assistant.core.config import ClientSettings
from assistant.core.errors import UserError
from assistant.core.results import AnswerResult, Citation, RetrieveResult

TokenCallback = Callable[[str], None]
_ROLES = ("user", "assistant")  # of a (question, answer) turn


class RemoteAssistant:
    """``ask``, ``retrieve`` and ``models`` with the ``Runtime``'s signatures, answered by the server at
    ``settings.url``. A ``user`` is the server's to accept: with no keys, or with a front end's key."""

    def __init__(self, settings: ClientSettings) -> None:
        assert settings.url is not None
        self.url = str(settings.url).rstrip("/").removesuffix("/v1")  # the address OpenAI clients are given works
        headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"} if settings.api_key else {}
        timeout = httpx.Timeout(settings.timeout_s, connect=10.0)  # a host that is not there is told at once
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def models(self, user: str | None) -> list[str]:
        """What ``user`` may ask for: ``auto``, their domains, their adapter versions."""
        whose = {"user": user} if user else None
        with self._request("GET", "/v1/models", params=whose) as response, self._understood():
            return [str(model["id"]) for model in response.json()["data"]]

    def retrieve(
        self, question: str, domain: str = "auto", sources: list[str] | None = None, user: str | None = None
    ) -> RetrieveResult:
        body = {"question": question, "model": domain, "sources": sources, "user": user}
        with self._request("POST", "/v1/retrieve", json=body) as response, self._understood():
            return RetrieveResult.model_validate(response.json())

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
        """The answer; with ``on_token``, streamed, each piece given to it as it arrives; with ``history``
        (earlier question/answer pairs, oldest first), as the next turn of those."""
        if thread is not None:
            raise UserError(
                "a thread's turns are kept in the data home, which a server does not share: "
                "unset client.url to continue a thread here"
            )
        streamed = on_token is not None
        body = {
            "model": domain,
            "adapter": None if adapter == "auto" else adapter,  # auto: the model's (a version names its own)
            "messages": [
                *({"role": role, "content": text} for turn in history for role, text in zip(_ROLES, turn, strict=True)),
                {"role": "user", "content": question},
            ],
            "sources": sources,
            "user": user,
            "stream": streamed,
        }
        with self._request("POST", "/v1/chat/completions", json=body, stream=streamed) as response, self._understood():
            if on_token is None:
                reply = response.json()
                return _answer(question, reply["choices"][0], reply["assistant"])
            for event in _events(response):
                choice = event["choices"][0]
                if content := choice["delta"].get("content"):
                    on_token(content)
                if choice["finish_reason"] is not None:
                    return _answer(question, choice, event["assistant"])
        raise UserError(f"the server at {self.url} ended the answer without its sources")

    @contextmanager
    def _understood(self) -> Iterator[None]:
        """A reply that is not what `assistant serve` sends is one line for the user, not a traceback."""
        try:
            yield
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, ValidationError) as err:
            raise UserError(
                f"the reply from {self.url} is not an `assistant serve` answer of this version "
                f"({type(err).__name__}: {str(err)[:120]})"
            ) from None

    @contextmanager
    def _request(self, method: str, path: str, stream: bool = False, **request: Any) -> Iterator[httpx.Response]:
        """The server's response; a refusal, an overload or no server at all becomes one line for the user."""
        try:
            with self._http.stream(method, path, **request) as response:
                if response.status_code >= 400:
                    response.read()
                    raise UserError(_refusal(self.url, response))
                if not stream:
                    response.read()
                yield response
        except httpx.ConnectError as err:
            raise UserError(
                f"no assistant server answers at {self.url} ({err}): start one with `assistant serve`, "
                "or unset client.url to answer here"
            ) from None
        except httpx.TransportError as err:
            raise UserError(f"the connection to {self.url} failed: {type(err).__name__} {err}".strip()) from None


def _events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The server-sent events' JSON payloads, up to ``[DONE]``; an error event becomes a ``UserError``."""
    for line in response.iter_lines():
        if not line.startswith("data: "):
            continue
        data = line.removeprefix("data: ")
        if data == "[DONE]":
            return
        event = json.loads(data)
        if "error" in event:
            error = event["error"]
            raise UserError(str(error.get("message", error) if isinstance(error, dict) else error))
        yield event


def _answer(question: str, choice: dict[str, Any], about: dict[str, Any]) -> AnswerResult:
    """The result as ``Runtime.ask`` returns it: ``about`` (the reply's ``assistant`` field) holds the answer
    as verified, without the markers that named no passage, which a stream's tokens still have."""
    citations = [Citation.model_validate(source) for source in choice["sources"]]
    return AnswerResult.model_validate({**about, "question": question, "citations": citations})


def _refusal(url: str, response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or response.reason_phrase
    retry = response.headers.get("Retry-After")
    later = f"; retry in {retry} s" if retry else ""
    return f"the server at {url} answered {response.status_code}: {message}{later}"
