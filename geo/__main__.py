"""``python -m geo``: the Limes command line (see :mod:`cli`)."""

import sys

from cli import main

sys.exit(main())
