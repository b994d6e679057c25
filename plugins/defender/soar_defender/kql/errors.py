"""The one error type of the KQL evaluator.

A :class:`KqlError` is an *answer of the simulated hunting API* (a 400), not a bug in the runner,
which is why it lives here and not in :mod:`runner.errors`. The simulator turns it into the API's
error body; the fields let it (and tests) say exactly what went wrong and where::

    KqlError
      .code      "SyntaxError"     the text is not a query (bad token, missing operand, unbalanced parens)
                 "SemanticError"   unknown table/column/function, wrong types, bad arguments
                 "NotSupported"    valid KQL that the simulated hunting service does not implement:
                                   "'<construct>' is not supported by the simulated hunting service"
                 "LimitsExceeded"  a query that would blow past the simulator's resource limits
      .message   the one-line text (also ``str(err)``), always with a 1-based line and column
      .line, .column   1-based position of the offending token
      .operator  the tabular operator the error belongs to ('where', 'mv-expand', 'let', ...)
      .name      the offending column, function, table or operator name, when there is one
"""

from __future__ import annotations

import difflib
from typing import Iterable


class KqlError(Exception):
    """A query the simulated advanced-hunting API rejects (HTTP 400)."""

    def __init__(self, message: str, *, code: str = "SemanticError", line: int | None = None,
                 column: int | None = None, operator: str | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.line = line
        self.column = column
        self.operator = operator
        self.name = name

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        """The error as plain data, for the simulator's error body."""
        return {"code": self.code, "message": self.message, "line": self.line,
                "column": self.column, "operator": self.operator, "name": self.name}


def parse_error(text: str, pos: tuple[int, int], detail: str, *, code: str = "SyntaxError",
                operator: str | None = None, name: str | None = None) -> KqlError:
    """``Query could not be parsed at 'x' on line [l,c]: detail`` — the service's parser wording."""
    shown = text if text else "<end of query>"
    line, column = pos
    return KqlError(f"Query could not be parsed at '{shown}' on line [{line},{column}]: {detail}",
                    code=code, line=line, column=column, operator=operator, name=name)


def semantic_error(operator: str | None, pos: tuple[int, int], detail: str, *, hint: str | None = None,
                   code: str = "SemanticError", name: str | None = None) -> KqlError:
    """``'where' operator: detail (line l, column c)[. hint]`` — the service's semantic wording
    (without the operator prefix when the error is not inside an operator, e.g. a table name)."""
    line, column = pos
    prefix = f"'{operator}' operator: " if operator else ""
    message = f"{prefix}{detail} (line {line}, column {column})"
    if hint:
        message += f". {hint}"
    return KqlError(message, code=code, line=line, column=column, operator=operator, name=name)


NOT_SUPPORTED = "is not supported by the simulated hunting service"


def not_supported(construct: str, pos: tuple[int, int], *, operator: str | None = None,
                  name: str | None = None, detail: str | None = None) -> KqlError:
    """Valid KQL the simulator does not evaluate: ``'<construct>' is not supported by the simulated
    hunting service (line l, column c)``, the construct as written. Inside a tabular operator the
    message starts with ``'<operator>' operator:`` like the other semantic errors."""
    line, column = pos
    prefix = f"'{operator}' operator: " if operator and operator != construct else ""
    message = f"{prefix}'{construct}' {NOT_SUPPORTED} (line {line}, column {column})"
    if detail:
        message += f". {detail}"
    return KqlError(message, code="NotSupported", line=line, column=column, operator=operator,
                    name=name if name is not None else construct)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'Did you mean ...?' hint for a misspelled name, or None."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return f"Did you mean '{lowered[name.lower()]}'? (names are case-sensitive)"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return f"Did you mean '{close[0]}'?" if close else None
