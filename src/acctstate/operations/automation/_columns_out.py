"""Laying the column-wise sweep's decisions out as arrays, one book or many chunks.

A sweep (of a book, or of one chunk of it on a thread) decides first: the rounds of
each policy, the refusals and the rows that could not be planned (`_Decided`). Then,
once every chunk is decided and the sizes are known, each writes its entries into its
own slice of the result's arrays (on its own thread): no chunk's arrays are joined by
copying, and the changes need no sort.

The changes are sorted by row, then hop. A row moves in a round only if it moved in
every round before (see ``_Hop``), so the rows that change are those of round 0 and a
row's changes are its rounds 0, 1, ...: each row's block of changes starts at the sum
of the counts before it, and round ``k`` writes at ``start + k``. A sweep with several
policies (account classes) or rows that did not settle falls back to a sort.
"""

from __future__ import annotations

from typing import Any

from acctstate.operations.automation._book import _numpy
from acctstate.operations.automation._columns_plan import _Plan
from acctstate.operations.automation._columns_run import _Hop, _Laid

__all__: list[str] = []

_NAMES = ("row", "hop", "rule", "trigger", "source", "dest")


class _Part:
    """One policy's rounds, refusals and errors over the rows of a book."""

    __slots__ = ("blocked", "errors", "hops", "laid", "plan", "settled")

    def __init__(
        self,
        hops: list[_Hop],
        blocked: list[Any],
        errors: list[Any],
        plan: _Plan,
        settled: bool,
        laid: _Laid | None = None,
    ) -> None:
        self.hops = hops
        self.blocked = blocked
        self.errors = errors
        self.plan = plan
        self.settled = settled  # no row hit the round limit
        self.laid = laid  # the changes in order already (then ``hops`` is empty)


class _Decided:
    """What one book (or chunk) decided, ready to be written into the result's arrays.

    Args:
        status: the book's status codes (int64, as given).
        parts: one per enabled policy.
        triggers: the trigger names of the whole sweep (the result's ``triggers``).
    """

    def __init__(self, status: Any, parts: list[_Part], triggers: tuple[str, ...]) -> None:
        np = _numpy()
        self.np = np
        self.status = status
        self.triggers = triggers
        index = {t: i for i, t in enumerate(triggers)}
        self.remap = [
            np.array([index[t] for t in p.plan.triggers] or [0], dtype=np.int64) for p in parts
        ]
        errors = [e for p in parts for e in p.errors if e.size]
        self.error_row = (
            np.unique(np.concatenate(errors)) if errors else np.empty(0, dtype=np.int64)
        )
        self.blocked = self._blocked(parts)
        one = parts[0] if len(parts) == 1 and parts[0].settled else None
        self.fast = one is not None and bool(one.hops or (one.laid and len(one.laid.rows)))
        self.part = one if self.fast else None
        self.sorted: tuple[Any, ...] | None = None
        if one is not None and one.laid is not None:
            laid = one.laid
            self.counts = laid.counts
            self.changes = len(laid.hop)
            ends = laid.counts.cumsum()
            self.start = ends - laid.counts
            self.ends = ends - 1
        elif self.fast:
            self._layout(parts[0])
        else:
            self.sorted = self._sort(parts)
            self.changes = len(self.sorted[0])

    def _blocked(self, parts: list[_Part]) -> tuple[Any, Any, Any]:
        np = self.np
        cols: list[list[Any]] = [[], [], []]
        for part, remap in zip(parts, self.remap, strict=True):
            for rows, rid, first in part.blocked:
                cols[0].append(rows)
                cols[1].append(rid)
                cols[2].append(remap[first])
        if not cols[0]:
            return tuple(np.empty(0, dtype=np.int64) for _ in range(3))
        row, rule, trig = (np.concatenate(c).astype(np.int64) for c in cols)
        order = np.lexsort((rule, row))
        return row[order], rule[order], trig[order]

    def _layout(self, part: _Part) -> None:
        """Where each round's entries go: the sizes and offsets, no entry copied yet."""
        np = self.np
        hops = part.hops
        first = hops[0].rows
        counts = np.ones(len(first), dtype=np.int64)
        at: list[Any] = [np.arange(len(first))]
        idx: Any = None
        for k in range(1, len(hops)):
            # Positions among round 0's rows: round k's rows moved in round k - 1 too.
            idx = hops[k].prior if idx is None else idx[hops[k].prior]
            counts[idx] = k + 1
            at.append(idx)
        start = counts.cumsum()
        self.changes = int(start[-1])
        self.ends = start - 1  # each row's last change
        start -= counts
        self.counts = counts
        self.start = start
        # Where each entry goes, the rounds one after the other (as they are joined):
        # its row's block, plus its round.
        sizes = [len(h.rows) for h in hops]
        self.hop = np.repeat(np.arange(len(hops)), sizes)
        self.at = start.take(np.concatenate(at)) + self.hop

    def _sort(self, parts: list[_Part]) -> tuple[Any, ...]:
        """The changes of several policies (or with unsettled rows) sorted by row."""
        np = self.np
        cols: list[list[Any]] = [[] for _ in _NAMES]
        for part, remap in zip(parts, self.remap, strict=True):
            codes = part.plan.codes
            previous: Any = None
            for k, h in enumerate(part.hops):
                dest = codes[h.dest]
                source = self.status[h.rows] if previous is None else previous[h.prior]
                for i, a in enumerate(
                    (h.rows, np.full(len(h.rows), k), h.rule, remap[h.trigger], source, dest)
                ):
                    cols[i].append(a)
                previous = dest
        out = [np.concatenate(c).astype(np.int64) if c else np.empty(0, np.int64) for c in cols]
        if self.error_row.size:
            keep = ~np.isin(out[0], self.error_row)
            out = [a[keep] for a in out]
        # Each round's entries come after the round before's, so a stable sort by row
        # keeps the hops of a row in order.
        order = np.argsort(out[0], kind="stable")
        return tuple(a[order] for a in out)

    def write(self, out: dict[str, Any], at: tuple[int, int, int], row0: int, final: Any) -> None:
        """Write the entries into ``out`` (the result's arrays by name) at ``at`` (the
        first change, refusal and error of this chunk), rows shifted by ``row0``; the
        statuses the rows end in into ``final`` (this chunk's slice of them)."""
        c, b, e = at
        views = {name: out[name][c : c + self.changes] for name in _NAMES}
        if self.sorted is not None:
            for name, a in zip(_NAMES, self.sorted, strict=True):
                views[name][:] = a
            views["row"] += row0
        elif self.part is not None and self.part.laid is not None:
            self._write_laid(self.part.plan.codes, self.part.laid, views, final, row0)
        elif self.part is not None:
            self._write_rounds(self.part, views, final, row0)
        for name, a in zip(("row", "rule", "trigger"), self.blocked, strict=True):
            v = out["blocked_" + name][b : b + len(a)]
            v[:] = a
            if name == "row":
                v += row0
        v = out["error_row"][e : e + len(self.error_row)]
        v[:] = self.error_row
        v += row0

    def _write_laid(
        self, codes: Any, laid: _Laid, views: dict[str, Any], final: Any, row0: int
    ) -> None:
        """The changes as laid out already: copied in, and the sources derived."""
        np = self.np
        first = laid.rows
        views["row"][:] = np.repeat(first + row0 if row0 else first, self.counts)
        views["hop"][:] = laid.hop
        views["rule"][:] = laid.rule
        views["trigger"][:] = self.remap[0].take(laid.trigger)
        dest = views["dest"]
        codes.take(laid.dest, out=dest)
        final[first] = dest.take(self.ends)
        source = views["source"]
        source[1:] = dest[:-1]
        source[self.start] = self.status[first]

    def _write_rounds(self, part: _Part, views: dict[str, Any], final: Any, row0: int) -> None:
        """Each round's entries at their places; a change's source is the change
        before's destination, or the row's status."""
        np = self.np
        codes = part.plan.codes
        remap = self.remap[0]
        row, hop, rule, trig, dest = (views[k] for k in ("row", "hop", "rule", "trigger", "dest"))
        hops = part.hops
        first = hops[0].rows
        # A row's block holds its rounds 0, 1, ... in order: rows and hops by repeats.
        row[:] = np.repeat(first + row0 if row0 else first, self.counts)
        # The other fields round after round, joined, written at their places at once.
        at = self.at
        hop[at] = self.hop
        # (Small integers are widened before the scatter: NumPy's casting one is slow.)
        rule[at] = np.concatenate([h.rule for h in hops]).astype(np.int64)
        trig[at] = remap.take(np.concatenate([h.trigger for h in hops]))
        dest[at] = codes.take(np.concatenate([h.dest for h in hops]))
        # Each row ends in its last change's destination.
        final[first] = dest.take(self.ends)
        source = views["source"]
        source[1:] = dest[:-1]
        source[self.start] = self.status[first]
