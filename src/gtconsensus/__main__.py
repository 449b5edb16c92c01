"""``python -m gtconsensus``: the command line."""

from gtconsensus.cli import main

raise SystemExit(main())
