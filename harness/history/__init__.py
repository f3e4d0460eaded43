"""The history: its record format, the recorder workers use, the collector, the files."""
