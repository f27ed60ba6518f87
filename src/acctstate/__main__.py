"""``python -m acctstate``: the same as the ``acctstate`` command."""

from acctstate.cli import main

raise SystemExit(main())
