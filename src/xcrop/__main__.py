"""``python -m xcrop``: the ``xcrop`` command."""

import sys

from ._cli import main

sys.exit(main())
