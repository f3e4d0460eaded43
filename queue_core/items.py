"""Items as the queue stores them, and the checks of what the API is given: an item becomes one
line of compact JSON (``encode_item``) and a batch of such texts comes back as a list
(``decode_items``); times, counts and timeouts are refused with a ``ValueError`` naming them."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

from .errors import InvalidItemError

_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


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
    """The JSON text for ``item``, or ``InvalidItemError`` saying why it cannot be queued."""
    if item is None:
        raise InvalidItemError("None cannot be queued: get() returns None to mean 'empty'")
    try:
        return _ENCODER.encode(item)
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidItemError(
            f"item {_short_repr(item)} cannot be queued: it is not JSON-serialisable ({error})"
        ) from error


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
