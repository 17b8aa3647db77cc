"""``python -m umlpy``."""

import sys

from umlpy.cli import entry

entry()
