"""The SQL store's Alembic migrations (run by `acctstate.store.migrate.upgrade` and
``acctstate db upgrade URL``); their version is kept in the ``acctstate_version`` table."""
