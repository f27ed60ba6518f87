"""The book type behind [`Workflow.book`][acctstate.workflow.Workflow.book] (private).

[`acctstate.schedule`][acctstate.schedule] holds the scheduling logic. It sits in the layer above
the workflow, so the workflow never imports it: the scheduling part registers its
``Schedule`` class here when it is imported (``import acctstate`` does so), and the
workflow's scheduling methods make and check their books through these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acctstate.values.errors import InvalidArgument

if TYPE_CHECKING:
    from acctstate.core.workflow import Workflow
    from acctstate.operations.schedule import Schedule

__all__: list[str] = []

_BOOK_TYPE: list[type[Schedule]] = []


def register_book_type(book_type: type[Schedule]) -> None:
    """Make ``book_type`` (``acctstate.schedule.Schedule``) the workflow's own book type."""
    _BOOK_TYPE[:] = [book_type]


def _book_type() -> type[Schedule]:
    if not _BOOK_TYPE:
        raise InvalidArgument(
            "book", None, "a Schedule: import acctstate.schedule (import acctstate does so)"
        )
    return _BOOK_TYPE[0]


def new_book(workflow: Workflow) -> Schedule:
    """A new, empty book of scheduled changes for ``workflow``."""
    return _book_type()(workflow)


def check_book(workflow: Workflow, book: object) -> Schedule:
    """``book``, once it is known to be a schedule built on ``workflow``."""
    if not isinstance(book, _book_type()) or book.workflow != workflow:
        raise InvalidArgument("book", book, f"a Schedule built on workflow {workflow.name!r}")
    return book
