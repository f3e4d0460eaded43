"""On-disk queue formats, by name."""

from __future__ import annotations

from .base import Storage
from .json_array import JsonArrayStorage

FORMATS: dict[str, type[Storage]] = {
    "json-array": JsonArrayStorage,
}
DEFAULT_FORMAT = "json-array"

__all__ = ["DEFAULT_FORMAT", "FORMATS", "JsonArrayStorage", "Storage"]
