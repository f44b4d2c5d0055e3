"""`assistant ask|retrieve|serve|ui`: cited answers from the indexed documents, here, over HTTP or in a browser."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import BaseModel, ConfigDict
from rich.markup import escape

from assistant.cli.adapters import app as adapters_app
from assistant.cli.console import (
    ConfigOption,
    HomeOption,
    JsonOption,
    print_json,
    run,
    settings_from,
    stderr,
    stdout,
)
from assistant.cli.eval import app as eval_app
from assistant.core.config import Settings
from assistant.core.errors import UserError, require_extra
from assistant.core.jsonl import read_jsonl
from assistant.core.results import AnswerResult, Citation, RetrieveResult, Route

if TYPE_CHECKING:
    from assistant.client import RemoteAssistant
    from assistant.runtime import Runtime

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Answer questions from your documents, grounded in retrieved passages and citing them.",
)

app.add_typer(adapters_app, name="adapters")
app.add_typer(eval_app, name="eval")

QuestionArgument = Annotated[
    str | None,
    typer.Argument(help="The question. Omit it when --questions gives a file.", show_default=False),
]
DomainOption = Annotated[str, typer.Option("--domain", "-d", help="Domain to search, or 'auto' to route by the index.")]
SourceOption = Annotated[
    list[str] | None,
    typer.Option("--source", "-s", help="Only passages from this document (repeat for several).", show_default=False),
]
AdapterOption = Annotated[
    str,
    typer.Option(
        "--adapter",
        "-a",
        help="'auto' = the routed domain's active adapter, 'none' = the base model, or DOMAIN or DOMAIN@VERSION.",
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option("--user", "-u", help="Who asks: only their domains (access.users in config) are searched."),
]
ThreadOption = Annotated[
    str | None,
    typer.Option(
        "--thread",
        "-t",
        help="Conversation name: the question is the next turn of it, and follow-ups can lean on earlier turns.",
        show_default=False,
    ),
]
QuestionsOption = Annotated[
    Path | None,
    typer.Option(
        "--questions",
        help="JSONL file, one {'question': ..., 'domain', 'adapter', 'user': optional} per line; "
        "prints one JSON result a line.",
        show_default=False,
    ),
]


class BatchQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str
    domain: str = "auto"
    adapter: str | None = None
    user: str | None = None


@app.command()
def ask(
    question: QuestionArgument = None,
    domain: DomainOption = "auto",
    adapter: AdapterOption = "auto",
    source: SourceOption = None,
    user: UserOption = None,
    thread: ThreadOption = None,
    questions: QuestionsOption = None,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Answer a question with citations to the passages it rests on, or say the documents don't cover it.

    With client.url in the config, a running `assistant serve` answers it."""
    runtime = _assistant(settings_from(home, config))
    if questions is not None:
        _run_batch(
            question,
            questions,
            lambda q: runtime.ask(q.question, q.domain, source, adapter=q.adapter or adapter, user=q.user or user),
        )
        return
    text = _require_question(question)
    if json_output:
        print_json(runtime.ask(text, domain, source, adapter=adapter, user=user, thread=thread))
        return
    streamed = _StreamedAnswer()
    result = runtime.ask(text, domain, source, on_token=streamed, adapter=adapter, user=user, thread=thread)
    if not streamed.started:  # a refusal is written by the graph, not generated (a server streams it, though)
        stdout.print(escape(result.answer), end="")
    stdout.print()
    _print_citations(result)


@app.command()
def retrieve(
    question: QuestionArgument = None,
    domain: DomainOption = "auto",
    k: Annotated[int | None, typer.Option("-k", min=1, max=50, help="Passages to return.")] = None,
    source: SourceOption = None,
    user: UserOption = None,
    questions: QuestionsOption = None,
    json_output: JsonOption = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Show the passages a question retrieves, ranked, without generating an answer.

    With client.url in the config, a running `assistant serve` retrieves them, as many as it serves."""
    settings = settings_from(home, config)
    if k is not None and settings.client.url is not None:
        raise UserError("-k sets how many passages this process retrieves; a server retrieves its retrieval.k")
    runtime = _assistant(settings.with_overrides(retrieval={"k": k}) if k is not None else settings)
    if questions is not None:
        _run_batch(question, questions, lambda q: runtime.retrieve(q.question, q.domain, source, q.user or user))
        return
    result = runtime.retrieve(_require_question(question), domain, source, user)
    if json_output:
        print_json(result)
        return
    _print_route(result.route)
    for citation in result.citations:
        stdout.print(_citation_line(citation))
        stdout.print(f"    {escape(_preview(citation.text))}", style="dim")


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; another than 127.0.0.1 needs API keys.")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8000,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Serve the assistant as an OpenAI-compatible API: /v1/chat/completions (streamed or not), /v1/models,
    /v1/retrieve and /health. Answers keep their \\[n] markers; the sources come in choices[0].sources.

    Models: 'auto' (routed), a domain, or DOMAIN@VERSION. API keys (`serve.api_keys` in config, key = user)
    map each request to an access-control user; a key mapped to "*" is a front end's (the web app's), whose
    requests name their user. Without keys the server listens on 127.0.0.1 only.
    """
    import uvicorn

    from assistant.runtime import Runtime
    from assistant.server import LOOPBACK, create_app

    settings = settings_from(home, config)
    if host not in LOOPBACK and not settings.serve.api_keys:
        raise UserError(f"--host {host} would serve every domain to anyone who can reach it: set serve.api_keys first")
    runtime = Runtime(settings)
    if settings.index.chroma_url:
        runtime.index  # noqa: B018 - a Chroma server that lets anyone in is refused at start, not at a question
    stderr.print(f"serving {settings.home} on http://{host}:{port}/v1 (Ctrl-C stops it)")
    uvicorn.run(create_app(runtime), host=host, port=port, log_level="warning")


@app.command()
def ui(
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to serve on.")] = 8501,
    host: Annotated[
        str, typer.Option("--host", help="Address to serve on; beyond 127.0.0.1 only with login configured.")
    ] = "127.0.0.1",
    without_login: Annotated[
        bool,
        typer.Option("--without-login", help="Serve beyond 127.0.0.1 with no login: anyone who reaches it may use it."),
    ] = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Serve the web app for domain users on http://HOST:PORT: chat, documents, adapters, evaluation.

    It uses the same data home and config as the CLI; the models load once, when the first page needs them.
    Users log in as the config's [login] says (an OpenID Connect provider, or passwords); without it the app
    serves this machine only, unless --without-login says otherwise.
    """
    from assistant.server import LOOPBACK

    settings = settings_from(home, config)  # a broken config fails here, not in the browser
    require_extra("ui", ("streamlit", "argon2"), "the web app")
    if host not in LOOPBACK and settings.login.mode == "none" and not without_login:
        raise UserError(
            f"no login is configured, so the app serves 127.0.0.1 only: configure [login] to serve on {host}, "
            "or add --without-login to let anyone who reaches it in"
        )
    env = {**os.environ, "ASSISTANT_HOME": str(settings.home)}
    if settings.config_file is not None:
        env["ASSISTANT_CONFIG_FILE"] = str(settings.config_file)
    app_file = Path(importlib.util.find_spec("ui").origin).parent / "app.py"  # type: ignore[union-attr,arg-type]
    with tempfile.TemporaryDirectory(prefix="assistant-ui-") as private:
        streamlit_options = {
            "server.address": host,
            "server.port": port,
            "server.headless": "true",
            "server.fileWatcherType": "none",
            "browser.gatherUsageStats": "false",
            "client.toolbarMode": "viewer",  # no developer menu or deploy button for domain users
            "secrets.files": oidc_secrets(settings, Path(private)),
        }
        options = [f"--{name}={value}" for name, value in streamlit_options.items() if value is not None]
        stderr.print(f"serving {settings.home} on http://{host}:{port} (Ctrl-C stops it)")
        code = subprocess.call([sys.executable, "-m", "streamlit", "run", str(app_file), *options], env=env)
    raise typer.Exit(code)


def oidc_secrets(settings: Settings, folder: Path) -> Path | None:
    """Streamlit's st.login reads its provider from a secrets file: written from the config for this run
    only, readable by this user alone, and gone when the server stops."""
    login = settings.login
    if login.mode != "oidc":
        return None
    assert login.client_secret is not None and login.cookie_secret is not None  # checked with the config
    provider = {
        "redirect_uri": str(login.redirect_uri),
        "cookie_secret": login.cookie_secret.get_secret_value(),
        "client_id": login.client_id,
        "client_secret": login.client_secret.get_secret_value(),
        "server_metadata_url": str(login.server_metadata_url),
    }
    path = folder / "secrets.toml"
    path.touch(mode=0o600)
    lines = [f"{key} = {json.dumps(value)}" for key, value in provider.items()]
    lines.append(f"client_kwargs = {{ prompt = {json.dumps(login.prompt)} }}")
    path.write_text("[auth]\n" + "\n".join(lines) + "\n")
    return path


@app.command("password-hash")
def password_hash() -> None:
    """Print the argon2 hash of a password, for the config's login.passwords (the password is asked for, never
    echoed, and never written anywhere)."""
    from argon2 import PasswordHasher

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)  # stdout: the hash
    if len(password) < 8:
        raise UserError("use a password of 8 characters or more")
    print(PasswordHasher().hash(password))


def _assistant(settings: Settings) -> Runtime | RemoteAssistant:
    """The server at client.url when the config names one (nothing heavy is imported), else this process's
    own models and index."""
    if settings.client.url is not None:
        from assistant.client import RemoteAssistant

        return RemoteAssistant(settings.client)
    from assistant.runtime import Runtime

    return Runtime(settings)


def _require_question(question: str | None) -> str:
    if not question or not question.strip():
        raise UserError("give a question, or --questions FILE.jsonl")
    return question


class _StreamedAnswer:
    """A token callback printing the answer as it is generated, without its leading blank."""

    def __init__(self) -> None:
        self.started = False

    def __call__(self, piece: str) -> None:
        if not self.started:
            self.started = True
            piece = piece.lstrip()
        stdout.print(escape(piece), end="")


def _print_route(route: Route) -> None:
    domain = escape(route.domain or "all domains")
    stdout.print(f"[bold]{domain}[/] · confidence {route.confidence:.2f} · {escape(route.reason)}", style="dim")


def _print_citations(result: AnswerResult) -> None:
    _print_route(result.route)
    stdout.print(f"adapter {escape(result.adapter or 'none (base model)')}", style="dim")
    grade = result.grade
    if result.refused:
        stdout.print(
            f"not answered: the best passage scores {grade.best_score:.2f}, under grading.min_score "
            f"{grade.threshold:.2f}; the closest passages were:",
            style="yellow",
        )
    if result.dropped_citations:
        stdout.print(f"removed {result.dropped_citations} citation(s) of passages that were not given", style="yellow")
    if result.thread:
        stdout.print(f"thread {escape(result.thread)} · follow up with --thread {escape(result.thread)}", style="dim")
    if not result.refused:
        heading = "Sources" if result.cited else "Sources (the answer cites none; these are the passages it was given)"
        stdout.print(f"[bold]{heading}[/]")
    for citation in result.citations:
        stdout.print(_citation_line(citation))


def _citation_line(citation: Citation) -> str:
    where = f" — {escape(citation.section)}" if citation.section else ""
    where += f", page {citation.page}" if citation.page is not None else ""
    return f"  \\[{citation.n}] [cyan]{escape(citation.source)}[/]{where} [dim]({citation.score:.2f})[/]"


def _preview(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _run_batch(
    question: str | None,
    path: Path,
    answer: Callable[[BatchQuestion], AnswerResult | RetrieveResult],
) -> None:
    """One JSON object per line; a question that fails gets an ``error`` object and the rest go on."""
    if question:
        raise UserError("give either a question or --questions, not both")
    failed = 0
    for _, item in read_jsonl(path, BatchQuestion, "questions"):
        try:
            print_json(answer(item))
        except UserError as err:
            failed += 1
            print_json({"question": item.question, "domain": item.domain, "error": str(err)})
    if failed:
        stderr.print(f"{failed} question(s) failed")
        raise typer.Exit(1)


def main() -> None:
    run(app)
