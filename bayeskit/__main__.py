"""``python -m bayeskit``: the command line (see :mod:`bayeskit.cli`)."""

import sys

from bayeskit.cli import main

sys.exit(main())
