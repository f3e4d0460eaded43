"""Items as the queue stores them, and the checks of what the API is given: an item becomes one
line of compact JSON (``encode_item``, which refuses what would not come back as it went in)
and a batch of such texts comes back as a list (``decode_items``); times, counts and timeouts
are refused with a ``ValueError`` naming them."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

from .errors import InvalidItemError

_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
#: The deepest nesting of lists and objects an item may have (a scalar has none; ``[0]`` is
#: one level). Far below Python's recursion limit, so that every reader decodes what a put
#: accepted: a batch's array, a claims ledger record around it, a caller deep in its stack.
MAX_DEPTH = 256


def decode_items(encoded: list[str]) -> list[Any]:
    """The items of a batch, from their JSON texts (each one value, as ``encode_item`` made
    it); decoded as one array, which costs a fraction of decoding each."""
    if len(encoded) > 1:
        with contextlib.suppress(ValueError):
            items = json.loads(f"[{','.join(encoded)}]")
            if len(items) == len(encoded):
                return items
    return [json.loads(e) for e in encoded]  # names the text that is not one JSON value


def encode_item(item: Any) -> str:
    """The JSON text for ``item``, or ``InvalidItemError`` saying why it cannot be queued:
    ``None``, anything ``json`` cannot encode, containers nested more than ``MAX_DEPTH``
    levels deep, and an object whose keys collide once JSON turns them into strings."""
    if item is None:
        raise InvalidItemError("None cannot be queued: get() returns None to mean 'empty'")
    try:
        text = _ENCODER.encode(item)
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidItemError(
            f"item {_short_repr(item)} cannot be queued: it is not JSON-serialisable ({error})"
        ) from error
    # Only an object can have colliding keys, and only a text of more than 2 * MAX_DEPTH
    # characters can nest deeper than MAX_DEPTH: most items skip the walk.
    if "{" in text or (len(text) > 2 * MAX_DEPTH
                       and text.count("[") + text.count("{") > MAX_DEPTH):
        problem = _shape_problem(item)
        if problem is not None:
            raise InvalidItemError(f"item {_short_repr(item)} cannot be queued: {problem}")
    return text


#: What JSON encodes as an array, and as an array or an object (tuples: ``isinstance`` is
#: several times faster with a tuple than with a union, and this runs at every put).
_SEQUENCES = (list, tuple)
_CONTAINERS = (dict, list, tuple)


def _shape_problem(item: Any) -> str | None:
    """Why ``item`` would not come back from JSON as it went in, or ``None``: containers
    nested more than ``MAX_DEPTH`` deep (every reader must decode it, a batch or a ledger
    record around it), or keys that collide once turned into strings. A walk without
    recursion, so that it holds for any depth."""
    stack = [(item, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        value, depth = pop()
        if isinstance(value, dict):
            for key in value:
                if key.__class__ is not str:
                    collision = _collision(value)
                    if collision is not None:
                        return collision
                    break
            children: Any = value.values()
        elif isinstance(value, _SEQUENCES):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            return (f"it is nested more than {MAX_DEPTH} levels deep (lists and objects "
                    "within each other), the most every reader can decode")
        for child in children:
            if isinstance(child, _CONTAINERS):
                push((child, depth + 1))
    return None


def _collision(value: dict) -> str | None:
    """The keys of ``value`` that JSON would turn into the same string, said; or ``None``."""
    named = [_json_key(key) for key in value]
    if len(set(named)) == len(named):
        return None
    twice = next(k for k in named if named.count(k) > 1)
    keys = [key for key in value if _json_key(key) == twice]
    return (f"its keys {', '.join(map(repr, keys))} would all become the key {twice!r} in "
            "JSON, and only one would come back")


def _json_key(key: Any) -> str:
    """The string JSON makes of an object's key (``json.dumps`` refuses any other kind)."""
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return json.dumps(key)
    return float.__repr__(key) if isinstance(key, float) else int.__repr__(key)


def _short_repr(item: Any) -> str:
    try:
        return f"{item!r:.100}"
    except (ValueError, RecursionError):  # an int beyond the digit limit, a deep nest
        return f"of type {type(item).__name__}"


def check_seconds(name: str, value: float, *, positive: bool) -> None:
    """``ValueError`` unless ``value`` is a finite number of seconds (above 0 if ``positive``)."""
    valid = (isinstance(value, int | float) and not isinstance(value, bool)
             and math.isfinite(value) and (value > 0 if positive else value >= 0))
    if not valid:
        bound = "greater than 0" if positive else "0 or more"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, not {value!r}")


def check_count(max_items: int) -> None:
    """``ValueError`` unless ``max_items`` is an integer of 1 or more."""
    if type(max_items) is not int or max_items < 1:
        raise ValueError(f"max_items must be an integer of 1 or more, not {max_items!r}")


def check_timeout(timeout: float | None) -> None:
    """``ValueError`` unless ``timeout`` is ``None`` or a number of seconds of 0 or more."""
    if timeout is not None and not (isinstance(timeout, int | float)
                                    and not isinstance(timeout, bool) and timeout >= 0
                                    and not math.isnan(timeout)):
        raise ValueError(f"timeout must be None or a number of seconds of 0 or more, "
                         f"not {timeout!r}")
