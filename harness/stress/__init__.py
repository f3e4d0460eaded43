"""A stress run: its configuration, its schedule, the supervised workers, the drain."""
