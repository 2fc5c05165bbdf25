"""The call in progress: who makes it, and what admission has to tell about it.

The HTTP layer opens a :class:`Call` for each request it serves (:func:`calling`); code that runs
inside the request without being handed it, admission in the store above all, reads it with
:func:`current`. Outside any request (the simulated controllers, tests writing to the store) the
caller is the simulator's loopback user. Warnings and audit annotations that admission adds are
carried back to the HTTP layer here. Holds no state beyond the call; decides nothing.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from local.sim.auth.users import LOOPBACK, UserInfo


@dataclass
class Call:
    """One request being served."""

    user: UserInfo
    warnings: list[str] = field(default_factory=list)
    """``Warning`` headers for the response (ValidatingAdmissionPolicy ``Warn`` actions)."""
    annotations: dict[str, str] = field(default_factory=dict)
    """Annotations for the request's audit record (``Audit`` actions)."""


_CURRENT: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "ferry_sim_call", default=None
)


def current() -> Call:
    """The call in progress in this thread, or a throwaway one made by the loopback user."""
    call = _CURRENT.get()
    return call if call is not None else Call(LOOPBACK)


def begin(call: Call) -> contextvars.Token[Call | None]:
    """Make ``call`` the current one until :func:`end` is given the token returned."""
    return _CURRENT.set(call)


def end(token: contextvars.Token[Call | None]) -> None:
    _CURRENT.reset(token)


@contextmanager
def calling(user: UserInfo) -> Iterator[Call]:
    """Run the block as a call made by ``user``."""
    call = Call(user)
    token = begin(call)
    try:
        yield call
    finally:
        end(token)
