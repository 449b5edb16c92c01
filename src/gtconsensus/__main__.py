"""``python -m gtconsensus``: the command line."""

from gtconsensus.cli import console

raise SystemExit(console())
