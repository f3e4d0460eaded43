"""``python -m harness``: runs the command line of ``harness.cli``."""

import sys

from .cli import main

sys.exit(main())
