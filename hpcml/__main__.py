"""``python -m hpcml``: the same entry point as the ``hpcml`` console script."""

import sys

from hpcml.cli.main import main

sys.exit(main())
