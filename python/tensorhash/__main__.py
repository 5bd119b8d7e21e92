"""``python -m tensorhash``: the command line (see tensorhash.cli)."""

import sys

from .cli import main

sys.exit(main())
