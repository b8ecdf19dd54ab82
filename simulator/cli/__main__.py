"""``python -m simulator.cli``: the same as ``simulate``."""

from . import main

raise SystemExit(main())
