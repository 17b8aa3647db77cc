"""``python -m umlpy``."""

import sys

from umlpy.cli import main

sys.exit(main())
