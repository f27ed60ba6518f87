"""Account statistics (seed 000's "Show in Account Statistics")."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acctstate.account import Account
from acctstate.errors import InvalidArgument, UnknownStatus
from acctstate.presets import isp
from acctstate.stats import account_statistics
from acctstate.workflow import Workflow

WF = isp.workflow()
# Hide one status of the active class and one of the suspended class.
HIDDEN = WF.extend(
    statuses=[
        WF.catalog["permanent"].evolve(show_in_statistics=False),
        WF.catalog["inactive"].evolve(show_in_statistics=False),
    ]
)


def accounts(*codes: int) -> list[Account]:
    """One account per status code."""
    return [Account(id=f"A-{i}", status=c) for i, c in enumerate(codes)]


def test_an_active_rule_counts_only_accounts_shown_in_statistics() -> None:
    """``active=`` is asked about every account; ``active`` counts those it calls active
    among the accounts shown in statistics, and leaves the per-status counts alone."""
    asked: list[str] = []

    def rule(account: Account) -> bool:
        asked.append(account.id)
        return account.id != "A-0"

    s = account_statistics(HIDDEN, accounts(1, 1, 99, -1, 0), active=rule)
    assert asked == ["A-0", "A-1", "A-2", "A-3", "A-4"]
    assert (s.active, s.total, s.hidden) == (2, 5, 2)  # A-2 (permanent), A-4 hidden
    assert s.by_backend() == account_statistics(HIDDEN, accounts(1, 1, 99, -1, 0)).by_backend()
    with pytest.raises(InvalidArgument, match="active"):
        account_statistics(WF, accounts(1), active=True)  # type: ignore[arg-type]


def test_statuses_of_one_backend_class_are_added_together() -> None:
    """Active, active non-billable and permanent all count under the active class."""
    s = account_statistics(WF, accounts(1, 1, 61, 99, -1, -2, 30))
    assert s.by_backend()["active"] == 4
    assert s.by_backend()["suspended"] == 1
    assert s.by_backend()["closed"] == 1
    assert s.by_backend()["prospect"] == 1
    assert s.count("active") == 2 and s.count(61) == 1
    assert s.total == 7 and s.hidden == 0


def test_hidden_statuses_are_left_out_but_accounted_for() -> None:
    """A status not shown in statistics adds to no class and is counted as hidden."""
    s = account_statistics(HIDDEN, accounts(1, 99, 99, 0, -1))
    assert s.by_backend()["active"] == 1
    assert s.by_backend()["suspended"] == 1
    assert "permanent" not in s.by_status() and "inactive" not in s.by_status()
    assert (s.total, s.shown, s.hidden) == (5, 2, 3)
    with pytest.raises(UnknownStatus):
        s.count("permanent")
    listed = account_statistics(HIDDEN, accounts(99), include_hidden=True)
    assert listed.count("permanent") == 1
    assert listed.by_backend()["active"] == 0
    assert [r["shown"] for r in listed.to_records() if r["status"] == "permanent"] == [False]


def test_records_are_plain_data_a_notebook_can_plot() -> None:
    """to_records / backend_records / to_dict hold only str, int, bool, None and lists."""
    s = account_statistics(WF, accounts(1, -1))
    rows = s.to_records()
    assert {r["status"] for r in rows} == set(WF.catalog.names)
    assert set(rows[0]) == {"status", "code", "label", "backend", "count", "shown", "color"}
    d = s.to_dict()
    assert d["by_status"]["active"] == 1 and d["by_backend"]["suspended"] == 1
    assert s.backend_records()[2] == {
        "backend": "active",
        "count": 1,
        "statuses": [x.name for x in WF.catalog.by_backend("active")],
    }

    def plain(value: Any) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, str | int | bool)

    assert plain(d) and plain(rows) and plain(s.backend_records())
    assert "total" in str(s)


def test_dataframe_from_records() -> None:
    """pandas (an optional extra) takes the records as they are."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(account_statistics(WF, accounts(1, 1, 0)).to_records())
    assert int(frame.set_index("status").loc["active", "count"]) == 2


def test_unknown_codes_and_sources_are_refused() -> None:
    """An account in a status the catalog lacks is an error, not a silent drop."""
    with pytest.raises(UnknownStatus, match="unknown status 7"):
        account_statistics(WF, accounts(1, 7))
    with pytest.raises(InvalidArgument, match="a Workflow or a Catalog"):
        account_statistics("isp", [])  # type: ignore[arg-type]


def test_catalog_and_custom_status_attribute() -> None:
    """A catalog works as a source; host objects with another status attribute too."""

    class Row:
        def __init__(self, code: int) -> None:
            self.state_code = code

    custom = Workflow(
        statuses=WF.catalog,
        transitions=WF.transitions,
        initial=WF.initial,
        status_attr="state_code",
    )
    assert account_statistics(custom, [Row(1), Row(-1)]).count("active") == 1
    assert account_statistics(WF.catalog, accounts(1)).count("active") == 1
    assert account_statistics(WF.catalog, [Row(1)], status_attr="state_code").total == 1


@given(st.lists(st.sampled_from(HIDDEN.catalog.codes), max_size=40))
def test_counts_add_up(codes: list[int]) -> None:
    """Classes add up to the shown accounts; shown plus hidden is every account."""
    s = account_statistics(HIDDEN, accounts(*codes))
    assert sum(s.by_backend().values()) == sum(s.by_status().values()) == s.shown
    assert s.shown + s.hidden == s.total == len(codes)
    for row in s.statuses:
        assert row.count == codes.count(row.status.code)
