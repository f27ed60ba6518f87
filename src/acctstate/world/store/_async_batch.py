"""The asyncio store's batch update: [`SqlStore`][acctstate.store.sql.SqlStore]'s
``select``, ``preview`` and ``apply_batch`` as coroutines (a part of
[`AsyncSqlStore`][acctstate.store.asyncio.AsyncSqlStore])."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from acctstate.operations.batch._changes import BatchChange
from acctstate.operations.batch._preview import Preview
from acctstate.operations.batch._report import BatchReport, Mode
from acctstate.operations.batch._select import Selected, Selection
from acctstate.values.actors import Actor
from acctstate.world.store._awaiting import awaiting

if TYPE_CHECKING:
    from acctstate.world.store.sql import SqlStore

__all__ = ["AsyncBatch"]

_T = TypeVar("_T")


class AsyncBatch:
    """Batch updates on the asyncio store."""

    __slots__ = ()

    _store: SqlStore

    async def _run(
        self, connection: AsyncConnection | None, fn: Callable[..., _T], *args: Any, **kwargs: Any
    ) -> _T:
        raise NotImplementedError  # pragma: no cover - AsyncSqlStore's

    async def select(
        self,
        selection: Selection | None = None,
        *,
        threshold: Decimal | None = None,
        connection: AsyncConnection | None = None,
    ) -> Selected:
        """The stored accounts a selection picks, counted in SQL (see `SqlStore.select`)."""
        return await self._run(connection, self._store.select, selection, threshold=threshold)

    async def preview(
        self,
        selected: Selected | Selection | None,
        change: BatchChange | Sequence[BatchChange],
        *,
        at: dt.datetime,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        connection: AsyncConnection | None = None,
    ) -> Preview:
        """What a status change would do to every selected stored account (see
        `SqlStore.preview`); nothing changes."""
        return await self._run(
            connection,
            self._store.preview,
            selected,
            change,
            at=at,
            actor=actor,
            reason=reason,
            note=note,
        )

    async def apply_batch(
        self,
        target: Preview | Selected | Selection | None = None,
        change: BatchChange | Sequence[BatchChange] | None = None,
        *,
        at: dt.datetime | None = None,
        actor: Actor | None = None,
        reason: str | None = None,
        note: str | None = None,
        mode: Mode | str = Mode.BEST_EFFORT,
        chunk: int = 1000,
        connection: AsyncConnection | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> BatchReport:
        """Carry a batch status change out on stored accounts, set-based, in chunks (see
        `SqlStore.apply_batch`); ``progress`` may be a coroutine function."""
        report = awaiting(progress) if callable(progress) else progress
        return await self._run(
            connection,
            self._store.apply_batch,
            target,
            change,
            at=at,
            actor=actor,
            reason=reason,
            note=note,
            mode=mode,
            chunk=chunk,
            progress=report,
        )
