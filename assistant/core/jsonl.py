"""Reading JSONL inputs (questions, training data, eval sets) with line-numbered errors.

Every line is checked before any work starts, so a typo on line 90 wastes no
model time; all bad lines are reported at once, each with its number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from assistant.core.errors import UserError

Model = TypeVar("Model", bound=BaseModel)
_MAX_REPORTED = 10


def read_jsonl(path: Path, model: type[Model], what: str) -> list[tuple[int, Model]]:
    """``(line number, parsed object)`` for each non-blank line; one ``UserError`` lists the bad lines."""
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}")
    parsed: list[tuple[int, Model]] = []
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        bad_line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise UserError(f"{path} line {bad_line}: not UTF-8 text (save the file as UTF-8)") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed.append((number, model.model_validate(json.loads(line))))
        except json.JSONDecodeError as err:
            problems.append(f"line {number}: not JSON ({err.msg})")
        except ValidationError as err:
            problems.append(f"line {number}: {describe_validation_error(err)}")
    if len(problems) == 1:
        raise UserError(f"{path} {problems[0]}")
    if problems:
        more = f"\n  … and {len(problems) - _MAX_REPORTED} more" if len(problems) > _MAX_REPORTED else ""
        raise UserError(f"{path}: {len(problems)} bad lines\n  " + "\n  ".join(problems[:_MAX_REPORTED]) + more)
    if not parsed:
        raise UserError(f"{what} file is empty: {path}")
    return parsed


def describe_validation_error(err: ValidationError) -> str:
    """The first problem in words a user can act on, e.g. "missing 'answer'"."""
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"missing '{field}'"
    if first["type"] == "extra_forbidden":
        return f"unknown field '{field}'"
    message = first["msg"].removeprefix("Value error, ")
    return f"'{field}': {message}" if field else message
