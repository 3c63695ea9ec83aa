"""What a burst of creates may share: a memo of the plan context's reference lookups.

Beat fires recurring series in bursts (10,000 due in one minute, issue 22), each occurrence a normal
create whose context reads the same reference data again and again: the client's routes with its
prices (the heaviest query of a create), the exchange rates and whether its sender is registered.
Inside `plan_memo()` those lookups are made once per key and reused until the block ends; outside
one (every HTTP create, precheck, test) nothing is remembered, so a change to the price list is seen
by the next request at once. A firing run lasts at most a minute (recurring_runs.FIRE_SECONDS): its
occurrences are priced with the price list as it was when the run began, as one large broadcast is.

The memo lives in a ContextVar, so a gunicorn thread or another Celery task never sees another's.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_memo: ContextVar[dict[Hashable, Any] | None] = ContextVar("broadcasts_plan_memo", default=None)


@contextmanager
def plan_memo() -> Iterator[None]:
    """Remember the plan context's reference lookups until the block ends (nested: the outer's)."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def remembered(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, once per `key` inside `plan_memo()`; every time outside one."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    value: T = memo[key]
    return value
