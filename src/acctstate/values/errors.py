"""Every exception acctstate raises, under one base class,
[`AcctStateError`][acctstate.errors.AcctStateError].

Each error keeps its facts as attributes and builds its message from them: what was
wrong, what was expected, and what to do instead. Errors that correspond to a builtin
category also inherit that builtin (``LookupError``, ``ValueError``), so callers can
catch them either way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "AcctStateError",
    "AmbiguousMove",
    "ConcurrentChange",
    "ConfigError",
    "DefinitionError",
    "EffectFailed",
    "GuardRefused",
    "HistoryConflict",
    "IllegalTransition",
    "InvalidArgument",
    "MissingDependency",
    "MissingFact",
    "PartitionFailed",
    "PermissionDenied",
    "PlanOutdated",
    "PolicyError",
    "ReasonRequired",
    "SweepError",
    "UnknownStatus",
    "UnknownTrigger",
    "Violation",
]


def _quoted(items: Iterable[object]) -> str:
    listed = ", ".join(repr(i) for i in items)
    return listed or "(none)"


def closest(word: str, candidates: Iterable[str], *, n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look like ``word`` (for "did you mean" hints)."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.5)


class AcctStateError(Exception):
    """Base class of every error raised by acctstate."""


class InvalidArgument(AcctStateError, ValueError):
    """An argument has the wrong type or value (naive datetime, float money, ...).

    Attributes:
        name: the parameter or field that was wrong.
        value: the value that was given.
        expected: what would have been accepted.
    """

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f"invalid {name}: got {value!r}; expected {expected}")


class UnknownStatus(AcctStateError, LookupError):
    """A status code or name is not in the catalog.

    Attributes:
        status: the code or name that was looked up.
        suggestions: known names that look like it (possibly empty).
    """

    def __init__(self, status: object, *, known: Iterable[str] = ()) -> None:
        self.status = status
        self.suggestions: list[str] = closest(status, known) if isinstance(status, str) else []
        hint = f"; did you mean {_quoted(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown status {status!r}{hint}")

    def __str__(self) -> str:  # LookupError/KeyError-style quoting is not wanted
        return str(self.args[0])


class UnknownTrigger(AcctStateError, LookupError):
    """A trigger name is not declared by the workflow.

    Attributes:
        trigger: the name that was given.
        suggestions: declared triggers that look like it.
    """

    def __init__(self, trigger: str, *, known: Iterable[str] = ()) -> None:
        self.trigger = trigger
        self.suggestions = closest(trigger, known)
        hint = f"; did you mean {_quoted(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown trigger {trigger!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class IllegalTransition(AcctStateError):
    """The graph has no transition for this trigger from the account's status.

    Attributes:
        account_id: the account concerned.
        status: the account's current status (a ``Status``).
        trigger: the trigger that was fired.
        allowed: the triggers the graph does allow from that status.
    """

    def __init__(
        self,
        *,
        account_id: object,
        status: Any,
        trigger: str,
        allowed: Sequence[str],
        target: Any = None,
    ) -> None:
        self.account_id = account_id
        self.status = status
        self.trigger = trigger
        self.allowed = tuple(allowed)
        self.target = target
        if target is None:
            what = f"cannot fire {trigger!r} on account {account_id!r} in status"
            super().__init__(
                f"{what} {status.name!r} ({status.code}); allowed here: {_quoted(self.allowed)}"
            )
        else:
            super().__init__(
                f"cannot move account {account_id!r} from {status.name!r} ({status.code}) to "
                f"{target.name!r} ({target.code}): no transition leads there; allowed here: "
                f"{_quoted(self.allowed)}"
            )


class AmbiguousMove(IllegalTransition):
    """``move_to`` found more than one trigger leading to the requested status.

    Attributes:
        target: the requested status.
        candidates: the triggers that lead there; fire one of them explicitly.
    """

    def __init__(
        self, *, account_id: object, status: Any, target: Any, candidates: Sequence[str]
    ) -> None:
        self.target = target
        self.candidates = tuple(candidates)
        AcctStateError.__init__(
            self,
            f"cannot move account {account_id!r} from {status.name!r} to {target.name!r}: "
            f"several triggers lead there ({_quoted(self.candidates)}); fire one of them",
        )
        self.account_id = account_id
        self.status = status
        self.trigger = ""
        self.allowed = self.candidates


class GuardRefused(AcctStateError):
    """The transition exists, but its guards said no.

    Attributes:
        account_id: the account concerned.
        status: the account's current status.
        trigger: the trigger that was fired.
        refusals: every refusal, each with the guard's name and its reason.
    """

    def __init__(
        self, *, account_id: object, status: Any, trigger: str, refusals: Sequence[Any]
    ) -> None:
        self.account_id = account_id
        self.status = status
        self.trigger = trigger
        self.refusals = tuple(refusals)
        reasons = "; ".join(str(r) for r in self.refusals)
        super().__init__(
            f"cannot fire {trigger!r} on account {account_id!r} in status "
            f"{status.name!r} ({status.code}): {reasons}"
        )


class PermissionDenied(GuardRefused):
    """The actor lacks a permission the transition requires.

    Attributes:
        permission: the missing permission.
        actor: the actor that was refused (``None`` when no actor was given).
    """

    def __init__(
        self,
        *,
        account_id: object,
        status: Any,
        trigger: str,
        permission: str,
        actor: Any,
    ) -> None:
        self.permission = permission
        self.actor = actor
        who = "no actor was given" if actor is None else f"actor {actor.id!r} lacks it"
        AcctStateError.__init__(
            self,
            f"cannot fire {trigger!r} on account {account_id!r}: permission "
            f"{permission!r} is required and {who}",
        )
        self.account_id = account_id
        self.status = status
        self.trigger = trigger
        self.refusals = ()


class ReasonRequired(InvalidArgument):
    """A transition that declares reason codes was fired without a valid one.

    Attributes:
        trigger: the trigger fired.
        allowed: the reason codes the transition accepts.
    """

    def __init__(self, *, trigger: str, reason: object, allowed: Iterable[str]) -> None:
        self.trigger = trigger
        self.allowed = tuple(sorted(allowed))
        what = "a reason is required" if reason is None else f"unknown reason {reason!r}"
        AcctStateError.__init__(
            self, f"{what} for {trigger!r}; allowed reasons: {_quoted(self.allowed)}"
        )
        self.name = "reason"
        self.value = reason
        self.expected = f"one of {_quoted(self.allowed)}"


class Violation:
    """One broken rule found while building a workflow.

    Attributes:
        rule: a short rule id (``"one-way"``, ``"terminal-exit"``, ``"unreachable"`` ...).
        message: a sentence naming the statuses involved.
    """

    __slots__ = ("message", "rule")

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        self.message = message

    def __repr__(self) -> str:
        return f"Violation({self.rule!r}, {self.message!r})"

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Violation) and (self.rule, self.message) == (
            other.rule,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.rule, self.message))


class DefinitionError(AcctStateError, ValueError):
    """A workflow definition breaks one or more rules; all of them are listed.

    Attributes:
        violations: every broken rule, each a [`Violation`][acctstate.errors.Violation].
    """

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        n = len(self.violations)
        super().__init__(f"invalid workflow ({n} problem{'s' if n != 1 else ''}):\n{lines}")

    @property
    def rules(self) -> frozenset[str]:
        """The ids of the rules that were broken."""
        return frozenset(v.rule for v in self.violations)


class HistoryConflict(AcctStateError, ValueError):
    """A change's effective time contradicts what the account's history already records.

    Attributes:
        account_id: the account concerned.
        at: the effective time that was asked for.
        latest: the effective time of the latest recorded change (or status start).
    """

    def __init__(self, *, account_id: object, at: Any, latest: Any) -> None:
        self.account_id = account_id
        self.at = at
        self.latest = latest
        super().__init__(
            f"cannot record a change on account {account_id!r} effective {at.isoformat()}: "
            f"its history already has a change effective {latest.isoformat()}; a change may be "
            f"back-dated only to after the latest recorded one, or to the same instant"
        )


class EffectFailed(AcctStateError):
    """A hook raised while running a change's effects; the status was not changed.

    Attributes:
        change: the planned ``StatusChange`` that was not committed.
        ran: the effects that completed (compensate or keep them).
        failed: the effect whose hook raised.
        not_run: the effects that never ran.
        cause: the exception the hook raised (also ``__cause__``).
    """

    def __init__(
        self,
        *,
        change: Any,
        ran: Sequence[Any],
        failed: Any,
        not_run: Sequence[Any],
        cause: BaseException,
    ) -> None:
        self.change = change
        self.ran = tuple(ran)
        self.failed = failed
        self.not_run = tuple(not_run)
        self.cause = cause
        ran_keys = _quoted(e.key for e in self.ran)
        not_run_keys = _quoted(e.key for e in self.not_run)
        super().__init__(
            f"effect {failed.key!r} failed ({type(cause).__name__}: {cause}); account "
            f"{change.account_id!r} keeps status {change.source.name!r}; ran: {ran_keys}; "
            f"not run: {not_run_keys}"
        )


class ConcurrentChange(AcctStateError):
    """Another writer changed the account between read and write (optimistic lock lost).

    Attributes:
        account_id: the account concerned.
        expected_version: the version this writer read.
        actual_version: the version found when writing (``None`` when unknown).
    """

    def __init__(
        self, *, account_id: object, expected_version: int, actual_version: int | None
    ) -> None:
        self.account_id = account_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        found = "" if actual_version is None else f", found {actual_version}"
        super().__init__(
            f"account {account_id!r} was changed concurrently (expected version "
            f"{expected_version}{found}); reload it and try again"
        )


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ConfigError(AcctStateError, ValueError):
    """A workflow file could not be loaded.

    Attributes:
        source: the file name (or ``"<string>"``).
        path: the key path inside the document, e.g. ``"transitions[3].dest"``.
        line: the line number when the parser gives one, else ``None``.
        problem: what was wrong and what was expected.
    """

    def __init__(
        self, problem: str, *, source: str = "<string>", path: str = "", line: int | None = None
    ) -> None:
        self.source = source
        self.path = path
        self.line = line
        self.problem = problem
        where = source + (f":{line}" if line is not None else "")
        at = f" at {path}" if path else ""
        # A file may hold text no log can write (a lone surrogate in a JSON key): the
        # message escapes it, so reporting the error never fails in its turn.
        super().__init__(_printable(f"{where}{at}: {problem}"))


class PolicyError(AcctStateError, ValueError):
    """An automation policy breaks one or more rules; all of them are listed.

    Attributes:
        problems: every broken rule, each a [`Violation`][acctstate.errors.Violation].
        account_class: the class the policy was for (``None``: every class).
    """

    def __init__(self, problems: Sequence[Violation], *, account_class: str | None = None) -> None:
        self.problems = tuple(problems)
        self.account_class = account_class
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        which = "" if account_class is None else f" for account class {account_class!r}"
        super().__init__(
            f"invalid automation policy{which} ({n} problem{'s' if n != 1 else ''}):\n{lines}"
        )

    @property
    def rules(self) -> frozenset[str]:
        """The ids of the rules that were broken."""
        return frozenset(p.rule for p in self.problems)


class SweepError(AcctStateError):
    """An account could not be planned or applied by the sweep.

    Attributes:
        account_id: the account concerned.
        problem: what went wrong.
    """

    def __init__(self, *, account_id: object, problem: str) -> None:
        self.account_id = account_id
        self.problem = problem
        super().__init__(f"account {account_id!r}: {problem}")


class PlanOutdated(SweepError):
    """The account is no longer where the plan left it; sweep again.

    Attributes:
        expected: the status the plan expected.
        found: the status the account is in.
        trigger: the planned trigger that was not fired.
    """

    def __init__(
        self,
        *,
        account_id: object,
        expected: Any,
        found: Any,
        trigger: str,
        dest: bool = False,
    ) -> None:
        self.expected = expected
        self.found = found
        self.trigger = trigger
        what = (
            f"it now leads to {found.name!r} ({found.code}), not the planned "
            f"{expected.name!r} ({expected.code})"
            if dest
            else f"the plan expected status {expected.name!r} ({expected.code}) but the "
            f"account is in {found.name!r} ({found.code})"
        )
        super().__init__(
            account_id=account_id, problem=f"cannot apply {trigger!r}: {what}; sweep again"
        )


class MissingDependency(AcctStateError, ImportError):
    """An optional dependency a view needs is not installed.

    Also an ``ImportError``, so ``except ImportError`` catches it too.

    Attributes:
        what: the missing module or program (``"pandas"``, ``"dot"``).
        needed_for: what it was needed for (``"to_frame"``, ``"SVG diagrams"``).
        install: how to install it (``"pip install acctstate[notebook]"``).

    >>> err = MissingDependency("pandas", needed_for="to_frame",
    ...                         install="pip install acctstate[notebook]")
    >>> print(err)
    to_frame needs pandas, which is not installed: pip install acctstate[notebook]
    """

    def __init__(self, what: str, *, needed_for: str, install: str) -> None:
        self.what = what
        self.needed_for = needed_for
        self.install = install
        super().__init__(f"{needed_for} needs {what}, which is not installed: {install}")

    def __str__(self) -> str:
        return str(self.args[0])


class MissingFact(InvalidArgument):
    """A rule needs a fact about the account (its time zone, its currency) that nobody gave.

    Money and time are never guessed: the fact must come from the account (its attribute,
    or a column of the store's ``facts``), from the event data, or from the workflow's
    explicit default (``Workflow(default_timezone=..., default_currency=...)``).

    Attributes:
        account_id: the account concerned.
        fact: the missing fact (``"timezone"``, ``"currency"``).

    >>> print(MissingFact(account_id="A-1", fact="currency"))
    invalid currency: got None; expected the currency of account 'A-1': the account's 'currency' (a column of the store's facts), currency=... as event data, or Workflow(default_currency=...)
    """

    def __init__(self, *, account_id: object, fact: str) -> None:
        self.account_id = account_id
        self.fact = fact
        super().__init__(
            fact,
            None,
            f"the {fact} of account {account_id!r}: the account's {fact!r} (a column of "
            f"the store's facts), {fact}=... as event data, or Workflow(default_{fact}=...)",
        )


class PartitionFailed(AcctStateError):
    """A worker of a partitioned nightly run stopped before its partition was done.

    What the other workers wrote stays written, and so does every chunk the failed
    worker finished: a run only adds what is due at its ``now``, so running again at
    the same ``now`` completes the book without writing anything twice.

    Attributes:
        index: the partition that failed.
        count: how many partitions the run had.
        problem: what the worker reported.
    """

    def __init__(self, *, index: int, count: int, problem: str) -> None:
        self.index = index
        self.count = count
        self.problem = problem
        super().__init__(
            f"partition {index} of {count} failed: {problem}; run again at the same "
            "now to finish it (what was written stays, nothing is written twice)"
        )


# Errors print under the path users import them from (``acctstate.errors.InvalidArgument``
# in a traceback), not the layer that holds the code. The doctest finder skips objects
# whose ``__module__`` names another module, so their examples are listed for it here.
__test__: dict[str, type] = {}
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and issubclass(_obj, BaseException):
        _obj.__module__ = "acctstate.errors"
        __test__[_name] = _obj
del _name, _obj
