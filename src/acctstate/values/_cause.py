"""[`Cause`][acctstate.history.Cause]: what made a cascaded change (private; public path
``acctstate.history``)."""

from __future__ import annotations

import ast
import re
from typing import Any

import attrs

from acctstate.values.errors import InvalidArgument

__all__ = ["Cause"]

_QUOTED = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_CAUSE = re.compile(rf"(?:^|: )cascade from (\S+) {_QUOTED} \(([^()\s]+)\) by rule {_QUOTED}$")


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"Cause.{attribute.name}", value, "a non-empty str")


@attrs.frozen
class Cause:
    """What made a cascaded change: another entity's change and the rule that carried it.

    A change of a child that a cascade fired (or a hold it inherited) names the change of
    the entity that caused it; the text, ``str(cause)``, is also the change's note, which
    is how a store keeps it.

    Attributes:
        scope: the level of the entity whose change caused it (``"account"``).
        entity_id: that entity.
        trigger: that change's trigger (``"cancel"``, ``"place_hold"`` ...).
        rule: the label of the rule that carried the change down (or up).

    >>> cause = Cause("account", "A-1", "cancel", "account cancelled -> subscription cancel")
    >>> str(cause)
    "cascade from account 'A-1' (cancel) by rule 'account cancelled -> subscription cancel'"
    >>> Cause.from_note(str(cause)) == cause
    True
    """

    scope: str = attrs.field(validator=_text)
    entity_id: str = attrs.field(validator=_text)
    trigger: str = attrs.field(validator=_text)
    rule: str = attrs.field(validator=_text)

    def __str__(self) -> str:
        return (
            f"cascade from {self.scope} {self.entity_id!r} ({self.trigger}) by rule {self.rule!r}"
        )

    @classmethod
    def from_note(cls, note: str | None) -> Cause | None:
        """The cause a change's note names (at its end, as ``str(cause)`` writes it), or
        ``None``: a change read back from a store recovers its cause this way."""
        if note is None or "cascade from " not in note:
            return None
        m = _CAUSE.search(note)
        if m is None:
            return None
        return cls(m[1], ast.literal_eval(m[2]), m[3], ast.literal_eval(m[4]))


Cause.__module__ = "acctstate.history"  # the path users import it from
