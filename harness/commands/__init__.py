"""One module per ``python -m harness`` subcommand."""
