"""A book of accounts held as columns: reading and normalising them for the sweep.

Columns (all optional but ``status``; a missing column reads as "no value"):

==================  ========================================================================
``status``          int status codes
``id``              account ids (needed only for temporary hold releases)
``account_class``   the account's class (needed only for a policy with a class)
``balance``         amount owed, as integer minor units (``scale`` decimals) or ``Decimal``
                    objects; float is refused. Read as the amount past due only when
                    there is no invoice table and no ``past_due_balance`` column
``unpaid_invoices`` int
``past_due_balance``, ``past_due_invoices``, ``oldest_past_due``: the past-due scalars,
                    read instead of ``balance`` / ``unpaid_invoices`` /
                    ``oldest_unpaid_at`` when ``past_due_balance`` is present
``unapplied``       unapplied payments and credits (money), for the daily auto-apply
                    over an invoice table (see ``sweep_columns(invoices=...)``)
``payment_method``  bool (or any objects, read for truth; a missing value is no method)
``availability_days`` int; negative means none
``control_tags``    the account's control tags: collections of names (objects), or text
                    with names separated by commas (``"AUTO_PAY_OFF, OVERDUE_ENFORCEMENT_OFF"``)
``last_payment_failure`` the reason its last payment failed (text or none)
``timezone``        the billing time zone of each account (IANA names or ``tzinfo``;
                    none or a missing column: UTC); calendar days are counted there
dates               ``status_since``, ``oldest_unpaid_at``, ``oldest_past_due``, ``trial_ends_at``,
                    ``activated_at``, ``expires_at``, ``first_used_at``,
                    ``contract_ends_at``, ``period_end``: ``datetime64`` (UTC; NaT = none)
                    or timezone-aware pandas columns, or aware ``datetime`` objects
==================  ========================================================================

A missing value (``None``, ``NaN``, ``NaT`` or pandas' ``NA``, in any column and any dtype,
nullable ones included) means what a missing attribute means to the per-account sweep:
no payment method, nothing owed, no date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import ModuleType
from typing import Any

from acctstate.values.clock import billing_zone, require_aware, start_of_local_day
from acctstate.values.errors import InvalidArgument, MissingDependency

__all__ = ["DATE_COLUMNS", "columns_from_accounts"]

DATE_COLUMNS = (
    "status_since",
    "oldest_unpaid_at",
    "oldest_past_due",
    "trial_ends_at",
    "activated_at",
    "expires_at",
    "first_used_at",
    "contract_ends_at",
    "period_end",
)
_DAY = 86_400 * 10**9
_NAT = -(2**63)  # NaT as int64 nanoseconds
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _numpy() -> ModuleType:
    try:
        import numpy
    except ImportError as exc:  # pragma: no cover - numpy is installed in the test env
        raise MissingDependency(
            "NumPy", needed_for="the column-wise sweep", install="pip install acctstate[numpy]"
        ) from exc
    return numpy


def _is_missing(value: object) -> bool:
    """``None``, a float NaN, NumPy's NaT, or pandas' ``NA`` / ``NaT`` (named by type, so
    pandas need not be imported)."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    name = type(value).__name__
    if name in ("NAType", "NaTType"):
        return True
    if name in ("datetime64", "timedelta64"):
        return bool(_numpy().isnat(value))
    return False


def _truth(value: object, name: str) -> bool:
    if _is_missing(value):
        return False
    try:
        return bool(value)
    except Exception:  # an object with no truth value of its own (an array, a NA-like)
        raise InvalidArgument(name, value, "a value read for truth (or a missing one)") from None


def _ns(at: dt.datetime, name: str = "now") -> int:
    ns = (at - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    # datetime64[ns] spans 1677-09-21 to 2262-04-11; beyond, a column cannot hold it.
    if not -(2**63) < ns < 2**63:
        raise InvalidArgument(name, at, "an instant between 1677-09-22 and 2262-04-11")
    return ns


# -- reading the book ------------------------------------------------------------------


class _Book:
    """The columns, normalised: dates as int64 nanoseconds (``NAT`` = none), money as
    int64 minor units."""

    def __init__(self, columns: Any, scale: int, default_zone: str | None = None) -> None:
        np = _numpy()
        # The workflow's default_timezone: the zone of rows (or a book) that give none.
        self.default_zone = default_zone
        self.np = np
        self.scale = scale
        self.nat = _NAT
        raw = _as_arrays(columns)
        if "status" not in raw:
            raise InvalidArgument("columns", sorted(raw), "a 'status' column")
        status = np.asarray(raw["status"])
        if status.dtype.kind not in "iu":
            raise InvalidArgument("status", status.dtype, "an integer column of status codes")
        self.n = len(status)
        self.status = status.astype(np.int64, copy=False)
        self.cols: dict[str, Any] = {}
        for name, values in raw.items():
            arr = np.asarray(values)
            if len(arr) != self.n:
                raise InvalidArgument(name, len(arr), f"a column of {self.n} rows, as 'status'")
            self.cols[name] = arr
        self.dates = {
            name: self._date(name, self.cols[name]) for name in DATE_COLUMNS if name in self.cols
        }
        self.money: dict[str, Any] = {}
        self._zones: list[tuple[dt.tzinfo, Any]] | None = None

    def _date(self, name: str, arr: Any) -> Any:
        np = self.np
        if arr.dtype.kind == "O":
            # Python datetimes with gaps (None, NaN, NaT, NA): as the per-account sweep
            # reads them, each aware instant or missing.
            return np.fromiter(
                (self.nat if _is_missing(v) else _ns(require_aware(v, name)) for v in arr.tolist()),
                dtype=np.int64,
                count=len(arr),
            )
        if arr.dtype.kind == "f" and np.isnan(arr).all():  # a column of gaps only
            return np.full(len(arr), self.nat, dtype=np.int64)
        if arr.dtype.kind != "M":
            raise InvalidArgument(
                name, arr.dtype, "a datetime64 column (UTC) or a timezone-aware pandas column"
            )
        return arr.astype("datetime64[ns]", copy=False).view(np.int64)

    def zones(self) -> list[tuple[dt.tzinfo, Any]]:
        """Each billing time zone of the book with the mask of its rows (computed once)."""
        if self._zones is not None:
            return self._zones
        np = self.np
        col = self.cols.get("timezone")
        default = self.default_zone
        if col is None:
            self._zones = [(billing_zone(default), np.ones(self.n, dtype=bool))]
            return self._zones
        keys = np.asarray([_zone_key(v) for v in col], dtype=object).astype(str)
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        given = [_none(col[first[k]]) for k in range(len(uniq))]
        self._zones = [
            (billing_zone(default if g is None else g), inverse == k) for k, g in enumerate(given)
        ]
        return self._zones

    def local_days(self, ns: Any, rows: Any = None) -> Any:
        """Calendar day numbers (days since 1970-01-01) of instants ``ns`` in each
        row's billing time zone: the same day the per-account sweep counts.

        Args:
            ns: int64 nanoseconds aligned with ``rows`` (or one instant for all).
            rows: the rows ``ns`` belongs to (a slice, an index array, or ``None``:
                every row).

        Returns:
            int64 day numbers (rows whose ``ns`` is NaT get a meaningless number;
            callers mask them, as before); one number for one instant when every
            row counts days in UTC.
        """
        np = self.np
        zones = self.zones()
        if len(zones) == 1 and _is_utc(zones[0][0]):
            # UTC everywhere: one instant's day is one number, broadcast by the caller.
            return np.asarray(ns, dtype=np.int64) // _DAY
        picked = slice(None) if rows is None else rows
        size = self.n if isinstance(picked, slice) else len(picked)
        if isinstance(picked, slice) and picked != slice(None):
            size = len(range(*picked.indices(self.n)))
        values = np.broadcast_to(np.asarray(ns, dtype=np.int64), (size,))
        out = np.empty(size, dtype=np.int64)
        for tz, mask in zones:
            mine = mask[picked]
            if not mine.any():
                continue
            part = values[mine]
            out[mine] = (part + _offsets(np, tz, part, self.nat)) // _DAY
        return out

    def date(self, name: str) -> Any | None:
        """int64 ns, or ``None`` when the column is absent."""
        return self.dates.get(name)

    def amount(self, name: str) -> Any | None:
        """int64 minor units, or ``None`` when the column is absent."""
        if name in self.money:
            return self.money[name]
        arr = self.cols.get(name)
        if arr is None:
            return None
        np = self.np
        if arr.dtype.kind in "iu":
            out = arr.astype(np.int64, copy=False)
        elif arr.dtype.kind == "O":
            out = np.fromiter(
                (_minor(v, name, self.scale) for v in arr), dtype=np.int64, count=len(arr)
            )
        else:
            raise InvalidArgument(
                name,
                arr.dtype,
                "integer minor units or Decimal objects (float money is refused)",
            )
        self.money[name] = out
        return out

    def flag(self, name: str) -> Any | None:
        arr = self.cols.get(name)
        if arr is None:
            return None
        np = self.np
        if arr.dtype.kind == "b":
            return arr
        if arr.dtype.kind == "f":
            return ~np.isnan(arr) & (arr != 0)
        return np.fromiter((_truth(v, name) for v in arr.tolist()), dtype=bool, count=len(arr))

    def integer(self, name: str, missing: int) -> Any | None:
        arr = self.cols.get(name)
        if arr is None:
            return None
        if arr.dtype.kind not in "iu":
            raise InvalidArgument(name, arr.dtype, "an integer column")
        return arr.astype(self.np.int64, copy=False)

    def value(self, name: str, row: int, since: int) -> Any:
        """One cell as the per-account sweep would read it (for guards with no
        column-wise form)."""
        if name == "status_since":
            return None if since == self.nat else _from_ns(since)
        if name in self.dates:
            v = int(self.dates[name][row])
            return None if v == self.nat else _from_ns(v)
        arr = self.cols.get(name)
        if arr is None:
            raise AttributeError(name)
        if name in ("balance", "funds", "past_due_balance", "unapplied"):
            return Decimal(int(self.amount(name)[row])).scaleb(-self.scale)  # type: ignore[index]
        item = arr[row]
        if _is_missing(item):
            return None
        return item.item() if hasattr(item, "item") else item


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and value != value) else value


def _is_utc(tz: dt.tzinfo) -> bool:
    return tz is dt.UTC or getattr(tz, "key", None) in ("UTC", "Etc/UTC")


def _zone_key(value: Any) -> str:
    value = _none(value)
    if value is None:
        return ""
    return str(getattr(value, "key", None) or value)


def _offsets(np: ModuleType, tz: dt.tzinfo, ns: Any, nat: int) -> Any:
    """The UTC offset of ``tz`` (in ns) at each instant of ``ns``.

    A zone's offset changes at a few instants (DST, law changes): find those between
    the earliest and latest instant (a look per day, then bisection to the second),
    and look every value up among them.
    """
    valid = ns[ns != nat]
    if not valid.size:
        return np.zeros(len(ns), dtype=np.int64)
    second = 10**9

    def offset(t: int) -> int:
        return int(dt.datetime.fromtimestamp(t, tz).utcoffset().total_seconds())  # type: ignore[union-attr]

    lo = int(valid.min()) // second - 86_400
    hi = int(valid.max()) // second + 86_400
    bounds: list[int] = []
    offsets = [offset(lo)]
    t = lo
    while t < hi:
        nxt = min(t + 86_400, hi)
        if offset(nxt) != offsets[-1]:
            a, b = t, nxt  # offset(a) is the old one, offset(b) the new one
            while b - a > 1:
                mid = (a + b) // 2
                if offset(mid) == offsets[-1]:
                    a = mid
                else:
                    b = mid
            bounds.append(b * second)
            offsets.append(offset(nxt))
        t = nxt
    where = np.searchsorted(np.asarray(bounds, dtype=np.int64), ns, side="right")
    return np.asarray(offsets, dtype=np.int64)[where] * second


def _from_ns(ns: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=ns // 1000)


_INT64 = (-(2**63) + 1, 2**63 - 1)


def _in_int64(value: int, name: str) -> int:
    if not _INT64[0] <= value <= _INT64[1]:
        raise InvalidArgument(name, value, "a value that fits a 64-bit column")
    return value


def _int(value: object, name: str, missing: int | None = None) -> int:
    if missing is not None and _is_missing(value):
        return missing
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(name, value, "an int")
    return _in_int64(value, name)


def _text_id(account: object) -> str:
    found = getattr(account, "id", "")
    if found is None or isinstance(found, str):
        return "" if found is None else found
    return str(found) if isinstance(found, int) else repr(found)


def _minor(value: object, name: str, scale: int) -> int:
    if _is_missing(value):
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        whole: int = value * 10**scale
        return _in_int64(whole, name)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidArgument(name, value, "a finite Decimal amount (float money is refused)")
    minor = value.scaleb(scale)
    if minor != minor.to_integral_value():
        raise InvalidArgument(name, value, f"an amount with at most {scale} decimals")
    return _in_int64(int(minor), name)


def _as_arrays(columns: Any) -> dict[str, Any]:
    if type(columns) is dict:  # the common case, without probing for frame methods
        return {str(k): v for k, v in columns.items()}
    if hasattr(columns, "to_pandas") and hasattr(columns, "schema"):  # an Arrow table
        columns = columns.to_pandas()
    if hasattr(columns, "dtypes") and hasattr(columns, "columns"):  # a pandas DataFrame
        return {str(k): _from_series(str(k), columns[k]) for k in columns.columns}
    if isinstance(columns, Mapping):
        return {str(k): v for k, v in columns.items()}
    raise InvalidArgument(
        "columns", type(columns).__name__, "a mapping of arrays, a DataFrame or an Arrow table"
    )


_NULLABLE_INTS = frozenset(f"{u}Int{b}" for u in ("", "U") for b in (8, 16, 32, 64))


def _from_series(name: str, series: Any) -> Any:
    kind = getattr(series.dtype, "kind", "O")
    if kind == "M":
        tz = getattr(series.dtype, "tz", None)
        if tz is None:
            raise InvalidArgument(
                name, str(series.dtype), "a timezone-aware datetime column (naive is refused)"
            )
        return series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    if str(series.dtype) in _NULLABLE_INTS:
        if not series.isna().any():
            return series.to_numpy(dtype="int64")
        if name == "status":
            raise InvalidArgument(name, "a missing status code", "a status code on every row")
        # Missing reads as the per-account sweep reads a missing attribute: no
        # availability period, nothing owed, no unpaid invoice.
        fill = -1 if name == "availability_days" else 0
        return series.to_numpy(dtype="int64", na_value=fill)
    if str(series.dtype) == "boolean":
        return series.to_numpy(dtype=bool, na_value=False)
    if kind == "O" and series.hasnans:
        # A missing cell reads as no value however the frame marks it (None, NaN, pd.NA:
        # pandas' string columns use NaN); NaN read for truth would mean "has one".
        return series.to_numpy(dtype=object, na_value=None)
    return series.to_numpy()


def columns_from_accounts(accounts: Iterable[Any], *, scale: int = 2) -> dict[str, Any]:
    """A book of accounts as the columns [`sweep_columns`][acctstate.automation.sweep_columns]
    reads.

    Args:
        accounts: ``Account`` objects or host objects with the same fields.
        scale: decimals of the money columns (2: cents).

    Raises:
        InvalidArgument: an amount with more decimals than ``scale``, a float amount or
            a naive datetime.

    >>> from decimal import Decimal
    >>> from acctstate.account import Account
    >>> cols = columns_from_accounts([Account(id="A-1", status=1, balance=Decimal("12.50"))])
    >>> cols["balance"].tolist(), cols["status"].tolist()
    ([1250], [1])
    """
    np = _numpy()
    rows = list(accounts)
    out: dict[str, Any] = {
        "id": np.array([_text_id(a) for a in rows], dtype=object),
        "status": np.array([_int(getattr(a, "status", None), "status") for a in rows], np.int64),
        "account_class": np.array([getattr(a, "account_class", None) for a in rows], dtype=object),
        "balance": np.array(
            [_minor(getattr(a, "balance", None), "balance", scale) for a in rows], dtype=np.int64
        ),
        "unpaid_invoices": np.array(
            [_int(getattr(a, "unpaid_invoices", None), "unpaid_invoices", 0) for a in rows],
            dtype=np.int64,
        ),
        "payment_method": np.array(
            [_truth(getattr(a, "payment_method", None), "payment_method") for a in rows],
            dtype=bool,
        ),
        "availability_days": np.array(
            [_int(getattr(a, "availability_days", None), "availability_days", -1) for a in rows],
            dtype=np.int64,
        ),
    }
    # Dunning conditions beyond the three facts: only when some account has them.
    for name in ("control_tags", "last_payment_failure"):
        cells = [getattr(a, name, None) for a in rows]
        if any(cells):
            col = np.empty(len(rows), dtype=object)
            col[:] = [tuple(c) if name == "control_tags" and c else c for c in cells]
            out[name] = col
    zones = [getattr(a, "timezone", None) for a in rows]
    out["timezone"] = np.array(zones, dtype=object)
    nat = np.iinfo(np.int64).min
    for name in DATE_COLUMNS:
        values = [getattr(a, name, None) for a in rows]
        ns = [
            nat if _is_missing(v) else _ns(_instant(v, name, tz), name)
            for v, tz in zip(values, zones, strict=True)
        ]
        out[name] = np.array(ns, dtype=np.int64).view("datetime64[ns]")
    return out


def _instant(value: object, name: str, tz: object) -> dt.datetime:
    # A due date (a calendar day) stands for its first instant in the account's zone.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return start_of_local_day(value, billing_zone(tz))
    return require_aware(value, name)
