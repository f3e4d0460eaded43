"""Facts that the roles, the harness and the manifests must agree on, each defined once.

Delivery modes, shared defaults, and the log events that other programs read: every event a
check parses is written by ``LogEvent.format`` and read back by ``LogEvent.parse``, so a
reworded line changes both sides at once (and fails a unit test if a role stops using it).
"""

from __future__ import annotations

import re
from typing import Any

AT_LEAST_ONCE = "at-least-once"
AT_MOST_ONCE = "at-most-once"
#: How a consumer takes a task: ``claim`` then ``ack``, or ``get``.
DELIVERY_MODES = (AT_LEAST_ONCE, AT_MOST_ONCE)

#: Deliveries of a claimed item without an ack before it goes to the dead letters.
DEFAULT_MAX_ATTEMPTS = 5


class LogEvent:
    """One log line that other programs parse: ``format`` writes it, ``parse`` reads it back.

    ``template`` is the line with ``{field}`` placeholders; a field's value never holds
    white space (ids, names, numbers).
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self.fields = re.findall(r"\{(\w+)\}", template)
        pattern = re.escape(template)
        for name in self.fields:
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>\\S+)", 1)
        self._pattern = re.compile(r"(?:^|\s)" + pattern + r"(?:\s|$)")

    def format(self, **values: Any) -> str:
        """The line for ``values`` (one per field)."""
        return self.template.format(**values)

    def parse(self, line: str) -> dict[str, str] | None:
        """The fields of the event in ``line`` (which may carry a log prefix), or ``None``."""
        match = self._pattern.search(line)
        return None if match is None else match.groupdict()

    def find_all(self, text: str, field: str) -> list[str]:
        """The value of ``field`` in every line of ``text`` that holds the event, in order."""
        found = (self.parse(line) for line in text.splitlines())
        return [event[field] for event in found if event is not None]


#: The producer put a task on the queue.
TASK_PUT = LogEvent("put task id={id} type={type} priority={priority}")
#: A consumer wrote a task's result (and, with a claim, acknowledged it).
TASK_COMPLETED = LogEvent("completed task id={id}")
