"""The one exception type users see: a message, never a traceback; the traceback goes to a log for the operator."""

from __future__ import annotations

import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path


class UserError(Exception):
    """A problem the user can fix (bad path, unknown domain, wrong config).

    The CLIs print ``error: <message>`` on one line and exit with status 2.
    """


def log_failure(err: BaseException, home: Path, context: str) -> Path:
    """Append ``err``'s traceback to ``<home>/logs/errors.log`` (a temp file when that can't be written): what
    the user is not shown, for whoever runs the server. Returns where it went."""
    log = home / "logs" / "errors.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        log = Path(tempfile.gettempdir()) / "domain-assistant-errors.log"
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"--- {stamp} {context}\n{''.join(traceback.format_exception(err))}\n")
    return log
