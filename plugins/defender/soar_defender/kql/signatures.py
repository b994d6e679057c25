"""What a scalar function is to the compiler: arity, a type rule and a Python implementation.

A type rule maps the argument types to the result type, or raises ``ValueError`` with a sentence
the compiler turns into a positioned KqlError. Implementations take plain values, treat None as
null and never raise on odd input (dynamic values can be anything): they return null instead.
The function tables live in functions.py, strings.py, timefuncs.py, dynamic.py and network.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .model import NUMERIC


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    result: Callable[[str, list[str]], str]  # (function name, argument types) → result type
    impl: Callable[..., Any]
    #: index of an argument that may be ``typeof(T)``: the result is then of type T and the
    #: implementation receives the type name ('long', ...) at that position.
    type_arg: int | None = None
    #: (column suffix, type) for each value of a function that returns several columns
    #: (``series_stats``): the implementation then returns a tuple of that many values, or None.
    outputs: tuple = ()


def check_arg(name: str, types: list[str], index: int, allowed, what: str) -> None:
    t = types[index]
    if t not in allowed and t != "dynamic":
        raise ValueError(f"argument {index + 1} of {name}() must be {what}, not {t}")


def unify(types: list[str], what: str) -> str:
    """The one type several branches (iff, case, coalesce) share, or ValueError."""
    distinct = set(types)
    if len(distinct) == 1:
        return types[0]
    if distinct <= NUMERIC:
        return "real" if "real" in distinct else "long"
    if "dynamic" in distinct:
        return "dynamic"
    if distinct == {"string", "guid"}:
        return "string"
    raise ValueError(f"{what} must all have the same type, got {', '.join(types)}")


STRINGY = frozenset({"string", "guid"})


def rule(result: str | Callable[[list[str]], str], *arg_kinds: tuple):
    """A type rule: argument i must be of arg_kinds[i] (the last kind repeats); then ``result``."""
    def check(name: str, types: list[str]) -> str:
        for i in range(len(types)):
            allowed, what = arg_kinds[min(i, len(arg_kinds) - 1)] if arg_kinds else (None, "")
            if allowed is not None:
                check_arg(name, types, i, allowed, what)
        return result(types) if callable(result) else result
    return check


STR = (STRINGY, "a string")
INTEGER = (frozenset({"int", "long"}), "an integer")
NUM = (NUMERIC, "a number")
BOOL = (frozenset({"bool"}), "a bool")
DATETIME = (frozenset({"datetime"}), "a datetime")
TIMESPAN = (frozenset({"timespan"}), "a timespan")
DYNAMIC = (frozenset({"dynamic"}), "dynamic")
ANY = (None, "")


def same_as_first(types: list[str]) -> str:
    return types[0]
