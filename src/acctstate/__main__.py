"""``python -m acctstate``: the same as the ``acctstate`` command."""

from acctstate.world.cli import main

raise SystemExit(main())
