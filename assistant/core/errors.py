"""The one exception type users see: a message, never a traceback; the traceback goes to a log for the operator."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

from assistant.core.files import close_home


class UserError(Exception):
    """A problem the user can fix (bad path, unknown domain, wrong config).

    The CLIs print ``error: <message>`` on one line and exit with status 2.
    """


class Unavailable(UserError):
    """A server the assistant depends on (the generator, the Chroma server) does not answer: the request may
    succeed later, so the API says 503 with Retry-After rather than blame the request."""


def server_fault(err: BaseException) -> Unavailable | None:
    """A connection to one of the assistant's servers that failed mid-run (the Chroma server stopped, say),
    as one line naming the server: Chroma's client, like ours, speaks httpx."""
    httpx = sys.modules.get("httpx")
    if httpx is None or not isinstance(err, httpx.TransportError):
        return None
    try:
        url = err.request.url
        where = f"the server at {url.scheme}://{url.netloc.decode()}"
    except RuntimeError:  # an error raised before any request was made
        where = "a server the assistant depends on"
    return Unavailable(f"{where} stopped answering ({err or type(err).__name__}): try again once it is back")


TRAIN_MODULES = ("transformers", "peft", "accelerate")  # what the train extra brings that the base install lacks


def require_extra(extra: str, modules: tuple[str, ...], needed_for: str) -> None:
    """Refuse, naming the extra to install, before a feature imports an optional dependency that is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"{needed_for} needs {', '.join(missing)}: pip install 'domain-assistant[{extra}]'")


def log_failure(err: BaseException, home: Path, context: str) -> Path:
    """Append ``err``'s traceback to ``<home>/logs/errors.log`` (a temp file when that can't be written): what
    the user is not shown, for whoever runs the server. Returns where it went."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    entry = f"--- {stamp} {context}\n{''.join(traceback.format_exception(err))}\n"
    log = home / "logs" / "errors.log"
    try:
        close_home(home)
        log.parent.mkdir(exist_ok=True)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(entry)
        return log
    except OSError:  # a file of its own, private: a fixed name in /tmp could be another user's planted link
        handle_number, name = tempfile.mkstemp(prefix="domain-assistant-errors-", suffix=".log")
        with os.fdopen(handle_number, "w", encoding="utf-8") as handle:
            handle.write(entry)
        return Path(name)
