"""``python -m geo``: the Limes command line (see :mod:`geo.cli`)."""

import sys

from geo.cli import main

sys.exit(main())
