"""A minimal billing back office on Django, with account statuses from acctstate."""
