"""The column-wise sweep as table lookups: each row's facts as a few bits, and a table
of moves by (facts, ladder step, status).

Most policies ask only questions of a row that do not depend on its status: is its
trial over, has its contract ended, does it have a payment method, is nothing past due,
how many days has it been in its status. Each such question is an *atom*: one
column-wise pass over the book answers it for every row, and a row's answers to all of
them are its *signature* (a small integer, one bit per atom). Together with the row's
ladder step and its status, the signature decides everything a round decides: which
rule wants the row, which edge its trigger takes, which guards refuse it. So the sweep
becomes

- one pass per atom and one lookup for the first round (its moves, or its refusals),
- one lookup for the rest: a row that moved has entered its status *now*, so every
  later round reads the same signature (days in status is 0) and the moves until the
  row stays are a chain the table holds, laid out straight into the result's order.

The tables are built per signature the first time a book shows it (a few hundred
(step, status) entries, each decided by the same reading of rules, triggers and guards
as a round) and kept with the policy's plan. A policy with a question this reading
cannot answer per row alone (a guard written as a Python function) or with more than
``_MAX_ATOMS`` questions is swept round by round as before; so is a book whose columns
the atoms cannot read (the rounds then raise exactly what they raised, or not).
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from acctstate.operations.automation._book import _numpy
from acctstate.operations.automation._columns_plan import (
    _STEP_RULES,
    _guards_key,
    _Plan,
    step_wants,
)
from acctstate.operations.automation._columns_run import _Hop, _Laid, _Run
from acctstate.values.errors import AcctStateError
from acctstate.values.guards import Guard

__all__: list[str] = []

# Rules that read one row's columns only, through ``_Run.wants`` (no status, no
# status_since, no side effect; the credit hold's read the releases by account id).
_ROW_RULES = frozenset(
    {
        "trial_end",
        "activation",
        "contract_expiry",
        "expiration",
        "credit_hold",
        "credit_hold_removal",
        "credit_hold_release",
        "credit_hold_return",
    }
)
# Guards that read one row's columns only, through ``_Run.guard`` (``days_in_status``
# when it counts from another date than status_since).
_ROW_GUARDS = frozenset(
    {"balance_settled", "nothing_past_due", "has_payment_method", "period_ended", "days_in_status"}
)
_MAX_ATOMS = 10  # signatures index a table of up to 2**atoms slots
_UNSEEN = -1  # a signature no book has shown yet


class _Unsupported(Exception):
    """The policy asks something the table cannot answer from a row's atoms."""


class _Atoms:
    """The questions a policy asks of a row, and how its rules and guards read them.

    An atom is ``("rule", name)`` (a row rule's own answer), ``("guard", key, guard)``
    (a leaf guard's answer) or ``("days", n)`` (at least ``n`` calendar days in the
    status since the row entered it: read in the first round; 0 days in every later
    round).
    """

    def __init__(self, plan: _Plan) -> None:
        policy = plan.c.policy
        self.can = policy.actor.can
        self.keys: list[tuple[Any, ...]] = []
        self._index: dict[Any, int] = {}
        # Each non-step rule's question, as an expression over the atoms.
        self.rule: dict[str, Any] = {}
        for rule in plan.rules:
            if rule in _STEP_RULES:
                continue
            if rule in _ROW_RULES:
                self.rule[rule] = ("atom", self._atom(("rule", rule)))
            elif rule == "archive":
                self.rule[rule] = self._days(policy.archive_after_days)
            elif rule == "dunning_cancel":
                self.rule[rule] = self._cancel(policy)
            elif rule == "credit_hold_inactive":
                hold = policy.credit_hold
                assert hold is not None and hold.inactive_after_days is not None
                self.rule[rule] = self._days(hold.inactive_after_days)
            else:
                raise _Unsupported(rule)
        # Each group of guards (as edges ask them), as one expression.
        self.group = [("and", tuple(self._guard(g) for g in gs)) for gs in plan.group_guards]
        if len(self.keys) > _MAX_ATOMS:
            raise _Unsupported("atoms")

    def _atom(self, key: tuple[Any, ...]) -> int:
        hashed = key if key[0] != "guard" else key[:2]
        at = self._index.get(hashed)
        if at is None:
            at = self._index[hashed] = len(self.keys)
            self.keys.append(key)
        return at

    def _cancel(self, policy: Any) -> Any:
        """The ladder's cancellation: on the top step, once its date (if it waits for
        one) is given and due; a row on the top step without the date is an error, where
        the rule is asked."""
        ladder = policy.ladder
        cancel = ladder.climb[-1].cancel
        if cancel.fact is None:
            return ("cancel", len(ladder.steps), None, None)
        missing = self._atom(("missing", cancel.fact))
        return ("cancel", len(ladder.steps), missing, self._atom(("due", cancel.fact)))

    def _days(self, days: Any) -> Any:
        if type(days) is not int:
            raise _Unsupported("days")
        return ("days", self._atom(("days", days)), days)

    def _guard(self, g: Guard) -> Any:
        name, args = g.name, g.kwargs
        if name in ("all_of", "any_of"):
            return (
                "and" if name == "all_of" else "or",
                tuple(self._guard(h) for h in args["guards"]),
            )
        if name == "not_":
            return ("not", self._guard(args["guard"]))
        if name == "has_permission":
            return ("const", bool(self.can(args["permission"])))
        if name == "days_in_status" and args.get("attr", "status_since") == "status_since":
            return self._days(args["days"])
        if name in _ROW_GUARDS:
            # Guards that answer alike share an atom.
            return ("atom", self._atom(("guard", _guards_key((g,)), g)))
        raise _Unsupported(name)

    def value(self, expr: Any, bits: int, first: bool) -> bool:
        """An expression's answer for a row with atoms ``bits`` (in the first round,
        or in a later one: no day in the status has passed)."""
        kind = expr[0]
        if kind == "atom":
            return bool(bits >> expr[1] & 1)
        if kind == "days":
            return bool(bits >> expr[1] & 1) if first else expr[2] <= 0
        if kind == "and":
            return all(self.value(e, bits, first) for e in expr[1])
        if kind == "or":
            return any(self.value(e, bits, first) for e in expr[1])
        if kind == "not":
            return not self.value(expr[1], bits, first)
        return bool(expr[1])  # const

    def read(self, run: _Run) -> Any:
        """Every row's signature (uint8 / uint16), from one pass per atom."""
        np = run.np
        every = slice(None)
        sig: Any = None
        for i, key in enumerate(self.keys):
            if key[0] == "rule":
                bit = run.wants(key[1], every, None)
            elif key[0] == "days":
                bit = run._days_in(every, key[1])
            elif key[0] == "due":
                bit = run._due(key[1], every)
            elif key[0] == "missing":
                col = run.book.date(key[1])
                bit = np.ones(run.book.n, bool) if col is None else col == run.book.nat
            else:
                bit = run.guard(key[2], every, None)
            bit = np.asarray(bit, dtype=bool).view(np.uint8)
            if sig is None:
                sig = bit.astype(np.uint8 if len(self.keys) <= 8 else np.uint16)
            else:
                sig |= bit << i if i < 8 else bit.astype(np.uint16) << i
        if sig is None:
            sig = np.zeros(run.book.n, dtype=np.uint8)
        return sig


class _Snapshot(NamedTuple):
    """The tables as arrays, as one sweep reads them (see `_Tables`)."""

    base: Any  # by signature: its slot's offset (-1: not built)
    first: Any
    moves: tuple[Any, Any, Any]  # rule, trigger, destination by move
    chain_len: Any
    chain_refused: Any
    first_fault: Any  # by state: the first round finds the row in error
    chain_fault: Any  # by state entered: a later round finds the row in error
    chain_ids: Any  # by state * (top + 1) + hop: the move (0 at hop 0, a placeholder)
    top: int
    refusals: list[tuple[tuple[int, int], ...]]


class _Tables:
    """A policy's moves by (signature, step, status), built one signature at a time.

    A state ``c = base[signature] + (step + 3) * k + status position`` indexes:
    ``first[c]``: the first round's move (>= 0, into ``moves``), ``-1`` to stay, or
    ``-1 - r`` to stay refused (``refusals[r]``); ``chain_len[c]``: from a state entered
    in a round, the moves until the row stays (``-1``: it does not stay within the
    round limit), ``chain_ids[c * (top + 1) + j]`` the ``j``-th of them (from 1);
    ``chain_refused[c]``: the refusals where it stays. A signature's entries are built
    and appended the first time a book shows it.
    """

    def __init__(self, plan: _Plan, atoms: _Atoms) -> None:
        np = _numpy()
        self.np = np
        self.plan = plan
        self.atoms = atoms
        self.k = len(plan.codes)
        self.steps = plan.step_top + 4  # -3 .. top
        self.size = self.steps * self.k
        self.limit = 2 * self.k + 1
        self.base = np.full(1 << max(len(atoms.keys), 1), _UNSEEN, dtype=np.int64)
        self._moves: dict[tuple[int, int, int], int] = {}
        self._refusals: dict[tuple[tuple[int, int], ...], int] = {(): 0}
        self.refusals: list[tuple[tuple[int, int], ...]] = [()]
        # Per signature slot: first-round entries, chain lengths, refusals where the
        # chains stay, rows found in error in the first round and along the chains, and
        # the chains' moves (arrays by (step, status)).
        self._slots: list[tuple[Any, ...]] = []
        # Whether a round can find a row in error (a cancellation waiting for a date).
        self.faults = any(
            expr[0] == "cancel" and expr[2] is not None for expr in atoms.rule.values()
        )
        self.lock = threading.Lock()
        self._freeze()

    def state_base(self, sig: Any) -> tuple[Any, _Snapshot]:
        """Each row's table offset for its signature (building unseen ones), and the
        tables it indexes."""
        np = self.np
        snap = self.snapshot
        base = snap.base.take(sig)
        if base.min() < 0:
            with self.lock:
                for s in np.unique(sig[base < 0]).tolist():
                    if self.base[s] < 0:
                        self._add(int(s))
                self._freeze()
            snap = self.snapshot
            base = snap.base.take(sig)
        return base, snap

    def _add(self, sig: int) -> None:
        """Build the entries of signature ``sig``: each (step, status)'s first-round
        decision, and from each the chain of later rounds (whose days in status are 0)."""
        k, plan = self.k, self.plan
        first: list[tuple[int, bool]] = []
        later: list[tuple[int, bool]] = []
        for step in range(-3, plan.step_top + 1):
            for i in range(k):
                first.append(self._entry(sig, step, i, True))
                later.append(self._entry(sig, step, i, False))
        lengths: list[int] = []
        refused: list[int] = []
        faults: list[bool] = []
        chains: list[list[int]] = []
        dests = [m[2] for m in self._moves]
        for c, (e, fault) in enumerate(later):
            at = c - c % k
            moves: list[int] = [0]  # (hop 0 is the first round's move, not the chain's)
            while e >= 0 and len(moves) <= self.limit + 1:
                moves.append(e)
                e, wanting = later[at + dests[e]]
                fault = fault or wanting
            lengths.append(len(moves) - 1 if e < 0 else -1)
            refused.append(-1 - e if e < -1 else 0)
            faults.append(fault)  # (the rounds of its chain, and the one it stays in)
            chains.append(moves if e < 0 else [0])  # (a chain that never stays: no moves)
        np = self.np
        width = max(map(len, chains))
        ids = np.zeros((len(chains), width), dtype=np.int32)
        for c, moves in enumerate(chains):
            if len(moves) > 1:
                ids[c, : len(moves)] = moves
        slot = len(self._slots)
        self._slots.append(
            (
                np.array([e for e, _ in first], dtype=np.int32),
                np.array(lengths, dtype=np.int32),
                np.array(refused, dtype=np.int32),
                np.array([f for _, f in first], dtype=bool),
                np.array(faults, dtype=bool),
                ids,
            )
        )
        self.base[sig] = slot * self.size

    def _entry(self, sig: int, step: int, i: int, first: bool) -> tuple[int, bool]:
        """A round's decision for a row with atoms ``sig`` on ``step`` in status
        position ``i``: the rules in order, each of its triggers in order, each
        trigger's edges in table order (the round's own reading); and whether the round
        finds the row's facts wanting (the ladder's cancellation asked without its
        date: the row is an error)."""
        plan, atoms = self.plan, self.atoms
        refused: list[tuple[int, int]] = []
        place = int(plan.pos[i])
        fault = False
        for rule in plan.rules:
            if not plan.rule_mask[rule][i]:
                continue
            if rule in _STEP_RULES:
                wanted = bool(step_wants(rule, step, place))
            elif rule == "dunning_cancel":
                _, top, missing, due = atoms.rule[rule]
                wanted = step >= top
                if wanted and missing is not None:
                    fault = bool(sig >> missing & 1)
                    wanted = not fault and bool(sig >> due & 1)
            else:
                wanted = atoms.value(atoms.rule[rule], sig, first)
            if not wanted:
                continue
            head = -1
            for t in plan.rule_triggers[rule]:
                if not plan.applies[(rule, t)][i]:
                    continue
                if head < 0:
                    head = plan.trig_index[t]
                for (free, guarded, _, dest), group in zip(
                    plan.fire[t], plan.group[t], strict=True
                ):
                    to = -1
                    if free[i] >= 0:
                        to = int(free[i])
                    elif guarded[i] and atoms.value(atoms.group[int(group[i])], sig, first):
                        to = int(dest[i])
                    if to >= 0:
                        return self._move(plan.rule_id[rule], plan.trig_index[t], to), fault
            refused.append((plan.rule_id[rule], head))
        if not refused:
            return -1, fault
        key = tuple(refused)
        r = self._refusals.setdefault(key, len(self._refusals))
        if r == len(self.refusals):
            self.refusals.append(key)
        return -1 - r, fault

    def _move(self, rule: int, trigger: int, dest: int) -> int:
        return self._moves.setdefault((rule, trigger, dest), len(self._moves))

    def _freeze(self) -> None:
        """The tables as arrays (readers take one snapshot: threads may build)."""
        np = self.np
        moves = list(self._moves) or [(0, 0, 0)]
        rule = np.array([m[0] for m in moves], dtype=np.int8)
        trig = np.array([m[1] for m in moves], dtype=np.int16)
        dest = np.array([m[2] for m in moves], dtype=np.int64)
        slots = self._slots
        width = max((slot[-1].shape[1] for slot in slots), default=1)
        ids = np.zeros((len(slots) * self.size, width), dtype=np.int32)
        for n, (*_, mine) in enumerate(slots):
            ids[n * self.size : (n + 1) * self.size, : mine.shape[1]] = mine

        def joined(i: int) -> Any:
            return np.concatenate([slot[i] for slot in slots]) if slots else np.empty(0, np.int32)

        self.snapshot = _Snapshot(
            base=self.base.copy(),
            first=joined(0),
            moves=(rule, trig, dest),
            chain_len=joined(1),
            chain_refused=joined(2),
            first_fault=joined(3),
            chain_fault=joined(4),
            chain_ids=ids.ravel(),
            top=width - 1,
            refusals=list(self.refusals),
        )


_TABLES: dict[int, tuple[_Plan, _Tables | None]] = {}
_TABLES_LOCK = threading.Lock()


def _tables(plan: _Plan) -> _Tables | None:
    """The plan's tables (``None``: the policy asks what they cannot answer)."""
    hit = _TABLES.get(id(plan))
    if hit is not None and hit[0] is plan:
        return hit[1]
    try:
        made: _Tables | None = _Tables(plan, _Atoms(plan))
    except _Unsupported:
        made = None
    with _TABLES_LOCK:
        if len(_TABLES) >= 64:
            _TABLES.pop(next(iter(_TABLES)), None)
        _TABLES[id(plan)] = (plan, made)
    return made


def table_run(
    run: _Run, eligible: Any, status_pos: Any, given_since: Any, *, lay: bool = True
) -> Any:
    """``run.run(eligible, status_pos, given_since)`` by table lookups, or ``None`` when
    the policy or the book needs the round-by-round sweep.

    Returns the hops, refusals and errors as ``run.run`` does, and the changes laid
    out in the result's order instead of hops when ``lay`` (one policy for the whole
    book) and no row has bad facts.
    """
    tables = _tables(run.plan)
    if tables is None:
        return None
    np = run.np
    run.given_since = given_since
    run.hop = 0
    step = run.target
    if not len(step) or int(step.min()) < -3 or int(step.max()) > run.plan.step_top:
        return None  # (an empty book: the rounds have nothing to do either)
    try:
        sig = tables.atoms.read(run)
    except AcctStateError:
        return None  # the rounds raise it (or not) where they read the column
    k = tables.k
    # Each row's state: its signature's slot, its step, its status.
    c, snap = tables.state_base(sig)
    c += (step.astype(np.int64) + 3) * k
    c += status_pos
    e = snap.first.take(c)
    if eligible is not None:
        e[~eligible] = -1  # rows of another class, or of a status the workflow lacks
    blocked: list[Any] = []
    _refused(np, e, None, snap.refusals, blocked)
    moved = (e >= 0).nonzero()[0]
    wanting = snap.first_fault.take(c) if tables.faults else None
    if eligible is not None and wanting is not None:
        wanting &= eligible
    if not len(moved):
        _wanting(run, wanting)
        return [], blocked, list(run.faults), None
    em = e.take(moved)
    rule, trig, dest = snap.moves
    d = dest.take(em)
    # The state each moved row enters, and the moves it makes from there.
    c1 = c.take(moved) - status_pos.take(moved) + d
    lengths = snap.chain_len.take(c1)
    if int(lengths.min()) < 0 or 1 + int(lengths.max()) >= tables.limit:
        return None  # rules that do not settle: the rounds report the rows
    _refused(np, snap.chain_refused.take(c1), moved, snap.refusals, blocked, ids=True)
    if wanting is not None:
        wanting[moved] |= snap.chain_fault.take(c1)
        _wanting(run, wanting)
    run.hop = 1
    if run.faults or not lay:
        # Rows with bad facts are dropped from the changes by a sort, and several
        # policies' changes are sorted together: give rounds.
        changes = [_Hop(moved, moved, rule.take(em), trig.take(em), d)]
        if int(lengths.max()):
            # Each moved row's chain (by its position here), move j after the first.
            ids = snap.chain_ids.reshape(-1, snap.top + 1).take(c1, axis=0)
            chains = [(rule.take(j), trig.take(j), dest.take(j)) for j in ids.T[1:]]
            run._tail(moved, np.arange(len(moved)), lengths, changes, chains)
        return changes, blocked, list(run.faults), None
    return [], blocked, [], _laid(np, snap, moved, em, c1, lengths)


def _wanting(run: _Run, wanting: Any) -> None:
    """Rows a round found in error (``wanting``: a mask) join the run's faults."""
    if wanting is not None and wanting.any():
        run.faults.append(wanting.nonzero()[0])


def _laid(np: Any, snap: _Snapshot, moved: Any, em: Any, c1: Any, lengths: Any) -> _Laid:
    """Every change in the result's order: each moved row's first move, then its
    chain's (``c1``: the state it entered; ``lengths``: the chain's moves)."""
    counts = lengths + 1
    if not int(lengths.max()):
        ids = em
        hop = np.zeros(len(em), dtype=np.int64)
    else:
        total = int(counts.sum())
        owner = np.repeat(np.arange(len(moved)), counts)
        start = counts.cumsum()
        start -= counts
        hop = np.arange(total)
        hop -= start.take(owner)
        # Each change's move: its state's chain at its hop (the chains by state
        # begin with a placeholder for hop 0), and the first move at hop 0.
        at = c1.take(owner)
        at *= snap.top + 1
        at += hop
        ids = snap.chain_ids.take(at)
        ids[start] = em
    rule, trig, dest = snap.moves
    return _Laid(moved, counts, hop, rule.take(ids), trig.take(ids), dest.take(ids))


def _refused(
    np: Any,
    e: Any,
    rows: Any,
    refusals: list[tuple[tuple[int, int], ...]],
    blocked: list[Any],
    ids: bool = False,
) -> None:
    """The refusals of rows that stay (``e``: table entries, or refusal ids)."""
    if ids:
        at = e.nonzero()[0]
        which = e.take(at)
    else:
        at = (e < -1).nonzero()[0]
        which = -1 - e.take(at)
    if not len(at):
        return
    kinds = np.bincount(which).nonzero()[0].tolist()
    for rid in kinds:
        mine = at if len(kinds) == 1 else at[which == rid]
        got = mine if rows is None else rows.take(mine)
        for rule, trigger in refusals[rid]:
            blocked.append(
                (got, np.full(len(got), rule, dtype=np.int64), np.full(len(got), trigger))
            )
