"""``python -m umlpy``."""


from umlpy.cli import entry

entry()
