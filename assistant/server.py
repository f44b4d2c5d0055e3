"""`assistant serve`: the assistant as an OpenAI-compatible HTTP API, with its sources.

Chat clients that speak OpenAI's API (the ``openai`` package, Open WebUI, IDE
assistants) send ``POST /v1/chat/completions``; the answer keeps its ``[n]``
markers, and what they point at comes in extension fields, as PrivateGPT and
RAGFlow do: ``choices[0].sources`` (source, title, chunk id, score, text) and
``assistant`` (route, adapter, grade, refusal), in the response or in the last
stream chunk. The models are ``auto`` (routed), each domain, and each
``DOMAIN@VERSION`` adapter. ``POST /v1/retrieve`` returns passages alone.

One model serves every request, one at a time, on a single worker thread.
Requests wait in a bounded queue; beyond it the server answers 429 with
``Retry-After`` at once rather than hold a connection it cannot serve. A
streaming client that disconnects stops its generation at the next token.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.core.errors import Unavailable, UserError, server_fault
from assistant.core.results import AnswerResult, Citation, RetrieveResult
from assistant.runtime import Runtime

T = TypeVar("T")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text; a list of content parts keeps its text parts."""
        if isinstance(self.content, list):
            return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model: str = "auto"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    sources: list[str] | None = Field(default=None, description="Only passages from these documents.")
    adapter: str | None = Field(
        default=None,
        description="With model 'auto' or a domain: 'none' (the base model), DOMAIN or DOMAIN@VERSION instead of "
        "the domain's active adapter.",
    )


class StreamOptions(BaseModel):
    include_usage: bool = False


class RetrieveRequest(BaseModel):
    question: str = Field(min_length=1)
    model: str = "auto"
    user: str | None = None
    sources: list[str] | None = None


class Overloaded(Exception):
    """More requests wait than ``serve.max_queue`` allows."""


class Cancelled(Exception):
    """The client went away; raised from the token callback to stop generating."""


class ModelWorker:
    """The single thread that touches the model, behind a bounded queue."""

    def __init__(self, max_queue: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._slots = threading.BoundedSemaphore(max_queue + 1)  # the running request and those waiting
        self.admitted = 0  # requests running or waiting
        self.stopped = 0  # generations stopped because their client went away

    def reserve(self) -> None:
        """Take a place in the queue now, or refuse the request at once."""
        if not self._slots.acquire(blocking=False):
            raise Overloaded
        self.admitted += 1

    async def run_reserved(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the model's thread in the place ``reserve`` took, then give the place back."""
        try:
            return await asyncio.wrap_future(self._executor.submit(work))
        finally:
            self.admitted -= 1
            self._slots.release()

    async def run(self, work: Callable[[], T]) -> T:
        self.reserve()
        return await self.run_reserved(work)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413, declared or streamed, before anything parses it:
    neither Starlette nor uvicorn bounds a body, and a key check comes only after FastAPI has read it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            return await self._refuse(send)
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, bounded, send)

    def _message(self) -> str:
        return f"the request body is over {self.limit // 1024} KiB (limits.request_kb)"

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": {"message": self._message(), "type": "invalid_request_error", "code": 413}})
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})


def create_app(runtime: Runtime) -> FastAPI:
    """The API over ``runtime``; its settings' ``serve`` section holds the keys and the queue size, ``limits``
    what one request may ask."""
    settings = runtime.settings.serve
    limits = runtime.settings.limits
    worker = ModelWorker(settings.max_queue)
    app = FastAPI(title="domain-assistant", version="1", docs_url=None, redoc_url=None)
    app.state.api_keys = settings.api_keys
    app.state.access = runtime.settings.access
    app.router.on_shutdown.append(worker.shutdown)
    if not settings.api_keys:  # loopback only: a page elsewhere must not reach it by renaming itself (DNS rebinding)
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=sorted(LOOPBACK))
    app.add_middleware(BodyLimit, limit=limits.request_kb * 1024)

    @app.exception_handler(httpx.TransportError)
    async def server_stopped(request: Request, error: httpx.TransportError) -> JSONResponse:
        return await user_error(request, server_fault(error) or Unavailable(str(error)))

    @app.exception_handler(UserError)
    async def user_error(_: Request, error: UserError) -> JSONResponse:
        if isinstance(error, Unavailable):  # a server behind this one is down: the request may work later
            response = _error(503, str(error), "server_error")
            response.headers["Retry-After"] = str(settings.retry_after_s)
            return response
        return _error(400, str(error), "invalid_request_error")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _error(
            error.status_code, str(error.detail), "invalid_request_error" if error.status_code < 500 else "server_error"
        )

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, __: Overloaded) -> JSONResponse:
        response = _error(429, "the server is busy: retry later", "rate_limit_exceeded")
        response.headers["Retry-After"] = str(settings.retry_after_s)
        return response

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "requests": worker.admitted, "stopped_by_disconnect": worker.stopped}

    @app.get("/v1/models")
    async def models(key: Caller, user: str | None = None) -> dict[str, Any]:
        """``?user=``: whose models, for a front end's key."""
        asker = asking_as(key, user)
        names = await worker.run(lambda: runtime.models(asker))
        return {"object": "list", "data": [_model_card(name) for name in names]}

    @app.post("/v1/retrieve")
    async def retrieve(request: RetrieveRequest, key: Caller) -> RetrieveResult:
        asker = asking_as(key, request.user)
        domain, _ = await worker.run(lambda: resolve_model(runtime, request.model, asker))
        return await worker.run(lambda: runtime.retrieve(request.question, domain, request.sources, asker))

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: ChatRequest, key: Caller, http: Request) -> dict[str, Any] | StreamingResponse:
        asker = asking_as(key, request.user)
        if len(request.messages) > limits.messages:
            raise HTTPException(
                413, f"{len(request.messages)} messages, over the {limits.messages} allowed (limits.messages)"
            )
        question, history = conversation(request.messages)
        domain, adapter = await worker.run(lambda: resolve_model(runtime, request.model, asker, request.adapter))

        def answer(on_token: Callable[[str], None] | None = None) -> AnswerResult:
            return runtime.ask(question, domain, request.sources, on_token, adapter, asker, history=history)

        reply = Reply(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=request.model,
            max_tokens=runtime.settings.llm.max_tokens,
            include_usage=bool(request.stream_options and request.stream_options.include_usage),
        )
        if not request.stream:
            return reply.completion(await worker.run(answer))
        worker.reserve()  # an overloaded server answers 429 before the stream starts
        return StreamingResponse(_stream(worker, answer, http, reply), media_type="text/event-stream")

    return app


@dataclass(frozen=True)
class Key:
    """What a request's API key says about who asks."""

    user: str | None  # the key's user; without keys, access.default_user
    front_end: bool = False  # a front end's key ("*"): each request names the user it asks for
    keyless: bool = False  # no keys configured: the server cannot tell who asks
    open: bool = False  # no access rules either: every user sees every domain, so naming one changes nothing


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Key:
    """The request's key, checked against ``serve.api_keys``."""
    api_keys: dict[str, str] = request.app.state.api_keys
    if not api_keys:
        access = request.app.state.access
        return Key(access.default_user, keyless=True, open=not access.users)
    key = (authorization or "").removeprefix("Bearer ").strip()
    for known, user in api_keys.items():
        if hmac.compare_digest(key.encode(), known.encode()):
            return Key(None, front_end=True) if user == FRONT_END else Key(user)
    raise HTTPException(401, "a valid API key is required: Authorization: Bearer KEY")


Caller = Annotated[Key, Depends(caller)]
FRONT_END = "*"  # serve.api_keys' user for a front end's key: each request names the user it asks for


def asking_as(key: Key, named: str | None) -> str | None:
    """The access-control user a request asks as: its key's user, or the user a front end's key names. A server
    without keys cannot tell who asks: with access rules it answers as ``access.default_user`` only, and a
    request naming another user is refused, as one whose key's user names another is."""
    if key.front_end:
        if not named:
            raise HTTPException(400, "this key is a front end's: name the user each request is for ('user')")
        return named
    if key.open:
        return named
    if named not in (None, key.user):
        if key.keyless:
            raise HTTPException(
                403,
                "this server has no API keys, so it cannot tell who asks: it answers only as access.default_user "
                f"({key.user!r}); set serve.api_keys to serve several users",
            )
        raise HTTPException(403, f"this API key asks as {key.user!r}; only a front end's key may name another user")
    return key.user


def resolve_model(runtime: Runtime, model: str, user: str | None, adapter: str | None = None) -> tuple[str, str]:
    """The (domain, adapter) a model name asks for, with the request's ``adapter`` if it names one; an unknown
    model or adapter is refused with the served list."""
    served = runtime.models(user)
    if model not in served:
        raise HTTPException(404, f"unknown model {model!r}; served models: {', '.join(served)}")
    if adapter is not None and adapter not in served and adapter != "none":
        raise HTTPException(404, f"unknown adapter {adapter!r}; 'none' or one of: {', '.join(served)}")
    if "@" in model:  # a version is its own adapter
        if adapter not in (None, "auto", model):
            raise HTTPException(400, f"model {model!r} names its adapter; ask another with model 'auto' or a domain")
        return "auto", model
    return model, adapter or "auto"


def conversation(messages: list[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """The last user message is the question; earlier user/assistant pairs are the conversation so far.
    System messages are ignored: the prompt contract is the assistant's own."""
    turns = [m for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not turns[-1].text().strip():
        raise HTTPException(400, "the last message must be the user's question")
    history, pending = [], None
    for message in turns[:-1]:
        if message.role == "user":
            pending = message.text()
        elif pending is not None:
            history.append((pending, message.text()))
            pending = None
    return turns[-1].text(), history


@dataclass(frozen=True)
class Reply:
    """What the completion, or every chunk of a stream, of one reply carries as OpenAI's API shapes it."""

    id: str
    created: int
    model: str
    max_tokens: int  # an answer this long was cut short: its finish reason is "length"
    include_usage: bool = False  # stream_options.include_usage: a last chunk with the usage and no choices

    def body(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def finish_reason(self, result: AnswerResult) -> str:
        cut = result.usage is not None and result.usage.completion_tokens >= self.max_tokens
        return "length" if cut else "stop"

    def completion(self, result: AnswerResult) -> dict[str, Any]:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": result.answer},
            "finish_reason": self.finish_reason(result),
            "sources": [_source(c) for c in result.citations],
        }
        return {
            **self.body("chat.completion"),
            "choices": [choice],
            "usage": _usage(result),
            "assistant": _about(result),
        }


def _usage(result: AnswerResult) -> dict[str, int] | None:
    """OpenAI's usage object; None only where the backend's server reported none."""
    if result.usage is None:
        return None
    prompt, completion = result.usage.prompt_tokens, result.usage.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _stream(
    worker: ModelWorker,
    answer: Callable[[Callable[[str], None] | None], AnswerResult],
    http: Request,
    reply: Reply,
) -> AsyncIterator[str]:
    """Server-sent events: one chunk per token, then one with the finish reason, sources and route (and, asked
    for with ``stream_options.include_usage``, one with the usage)."""
    loop = asyncio.get_running_loop()
    tokens: asyncio.Queue[str | None] = asyncio.Queue()
    gone = threading.Event()

    def on_token(piece: str) -> None:
        if gone.is_set():
            raise Cancelled
        loop.call_soon_threadsafe(tokens.put_nowait, piece)

    def chunk(delta: dict[str, Any], final: AnswerResult | None = None) -> str:
        """One event; the ``final`` one carries the finish reason, the sources and the route."""
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
        body = reply.body("chat.completion.chunk") | ({"usage": None} if reply.include_usage else {})
        if final is not None:
            choice |= {"finish_reason": reply.finish_reason(final), "sources": [_source(c) for c in final.citations]}
            body["assistant"] = _about(final)
        return f"data: {json.dumps({**body, 'choices': [choice]})}\n\n"

    job = asyncio.ensure_future(worker.run_reserved(lambda: answer(on_token)))  # outlives a closed stream

    def finished(done: asyncio.Future[AnswerResult]) -> None:
        if not done.cancelled() and isinstance(done.exception(), Cancelled):  # retrieved, so never logged
            worker.stopped += 1
        tokens.put_nowait(None)

    job.add_done_callback(finished)
    streamed = False
    yield chunk({"role": "assistant", "content": ""})
    try:
        while (piece := await tokens.get()) is not None:
            if not streamed:  # the answer as returned starts at its first word, not at the model's blank
                piece = piece.lstrip()
                if not piece:
                    continue
            streamed = True
            yield chunk({"content": piece})
            if await http.is_disconnected():
                gone.set()
        try:
            result = job.result()
        except UserError as error:
            kind = "server_error" if isinstance(error, Unavailable) else "invalid_request_error"
            yield f"data: {json.dumps({'error': {'message': str(error), 'type': kind}})}\n\n"
            return
        if not streamed:  # a refusal is written by the graph, not generated
            yield chunk({"content": result.answer})
        yield chunk({}, final=result)
        if reply.include_usage:
            usage = {**reply.body("chat.completion.chunk"), "choices": [], "usage": _usage(result)}
            yield f"data: {json.dumps(usage)}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        gone.set()  # the client went away (the generator was closed): stop generating at the next token


def _source(citation: Citation) -> dict[str, Any]:
    return citation.model_dump(
        include={"n", "source", "title", "section", "page", "chunk_id", "score", "text", "domain"}
    )


def _about(result: AnswerResult) -> dict[str, Any]:
    return {
        "answer": result.answer,  # as verified: a stream's tokens may hold markers that named no passage
        "domain": result.domain,
        "route": result.route.model_dump(),
        "adapter": result.adapter,
        "grade": result.grade.model_dump(),
        "refused": result.refused,
        "cited": result.cited,
        "dropped_citations": result.dropped_citations,
        "timings_ms": result.timings_ms,
    }


def _model_card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "domain-assistant"}


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)
