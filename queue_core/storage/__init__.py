"""On-disk queue formats, by name."""

from __future__ import annotations

from .base import Storage
from .journal import JournalStorage
from .json_array import JsonArrayStorage

FORMATS: dict[str, type[Storage]] = {
    "json-array": JsonArrayStorage,
    "journal": JournalStorage,
}
DEFAULT_FORMAT = "journal"

__all__ = ["DEFAULT_FORMAT", "FORMATS", "JournalStorage", "JsonArrayStorage", "Storage"]
