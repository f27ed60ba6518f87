"""Status values and the Catalog."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import acctstate
from acctstate import Backend, Catalog, Status


def test_status_is_frozen_and_validated() -> None:
    """Status is immutable, names must be snake_case, codes must be ints."""
    s = Status(code=1, name="active", backend="active")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s.code = 2  # type: ignore[misc]
    with pytest.raises(acctstate.InvalidArgument, match="snake_case"):
        Status(code=1, name="Active Now", backend="active")
    with pytest.raises(acctstate.InvalidArgument, match="an int"):
        Status(code=True, name="x", backend="active")
    with pytest.raises(acctstate.InvalidArgument, match="one of"):
        Status(code=1, name="x", backend="zombie")


def test_usage_billing_defaults_to_billing() -> None:
    """usage_billable follows billable unless set explicitly."""
    assert Status(code=1, name="a", backend="active", billable=True).usage_billable is True
    assert Status(code=2, name="b", backend="suspended", usage_billable=True).usage_billable


def test_catalog_lookup_by_code_name_or_status(wf: acctstate.Workflow) -> None:
    """The catalog resolves codes, names and Status objects to the same status."""
    active = wf.catalog["active"]
    assert wf.catalog[1] is active and wf.catalog[active] is active
    assert 1 in wf.catalog and "active" in wf.catalog and 4242 not in wf.catalog
    assert wf.catalog.get("nope") is None
    assert list(wf.catalog) == sorted(wf.catalog, key=lambda s: s.code)


def test_unknown_status_suggests_close_names(wf: acctstate.Workflow) -> None:
    """A misspelt name gets the closest known names; an unknown code raises too."""
    with pytest.raises(acctstate.UnknownStatus, match="did you mean 'suspended'"):
        wf.catalog["suspendd"]
    with pytest.raises(LookupError, match="4242"):
        wf.catalog[4242]
    foreign = Status(code=1, name="active", backend="suspended")
    with pytest.raises(acctstate.UnknownStatus):
        wf.catalog[foreign]


def test_duplicates_are_refused_together() -> None:
    """Duplicate codes and names are reported at once."""
    with pytest.raises(acctstate.DefinitionError) as exc:
        Catalog(
            [
                Status(code=1, name="a", backend="active"),
                Status(code=1, name="b", backend="active"),
                Status(code=2, name="a", backend="active"),
            ]
        )
    assert exc.value.rules == {"duplicate-code", "duplicate-name"}


@given(st.lists(st.integers(-100, 100), unique=True, min_size=1, max_size=30))
def test_catalog_is_ordered_by_code(codes: list[int]) -> None:
    """Whatever the input order, iteration is ascending by code and lookups round-trip."""
    cat = Catalog(Status(code=c, name=f"s{i}", backend=Backend.ACTIVE) for i, c in enumerate(codes))
    assert cat.codes == tuple(sorted(codes))
    assert all(cat[s.code] is s and cat[s.name] is s for s in cat)
    assert len(cat) == len(codes)
