"""Cooperative cancellation inside module calls.

A caller that may have to stop long work (a service job its client cancelled) runs it under
:func:`stop_check`; modules call :func:`checkpoint` between their internal batches (forward
passes, FISTA iterations), and the check raises to stop the call there. The batches themselves
are unchanged, so a call that is not stopped returns exactly what it returns without a check,
bit for bit; a stopped call returns nothing, so no partial result is ever cached. Transformer
models also check before each of their layers (:func:`check_between_layers`), because one
internal batch of short texts can be thousands of rows.

The check lives in a :mod:`contextvars` variable: it applies to the thread (or task) that
installed it, never to another job's calls on another thread. Work handed to a thread pool
carries it with :func:`carry`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from .errors import CancelledError

T = TypeVar("T")
_CHECK: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("sasc_stop_check", default=None)


@contextmanager
def stop_check(check: Callable[[], None]) -> Iterator[None]:
    """While the block runs, every :func:`checkpoint` in this context calls ``check``, which raises
    (e.g. :class:`sasc.errors.CancelledError`) to stop the work."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)


def while_active(active: Callable[[], bool]) -> Callable[[], None]:
    """A check for :func:`stop_check` that raises :class:`sasc.errors.CancelledError` once
    ``active()`` is false (e.g. a gRPC context's ``is_active``: cancelled or past its deadline)."""
    def check() -> None:
        if not active():
            raise CancelledError("the call was cancelled or its deadline passed")
    return check


def current_check() -> Callable[[], None] | None:
    """The stop check installed in this context, or None (a backend that must choose how to run a
    call, e.g. streamed so it can stop early, asks this)."""
    return _CHECK.get()


def checkpoint() -> None:
    """Call the installed stop check, if any (modules call this between internal batches)."""
    check = _CHECK.get()
    if check is not None:
        check()


def check_between_layers(model: Any) -> Any:
    """Make a torch ``model`` call :func:`checkpoint` before each block of its layer lists (the
    transformer layers), so a stop check acts within a fraction of one forward pass even when a
    module's internal batch is large; returns ``model``. The hooks read and change nothing, so
    outputs are unchanged; without an installed check they only look up a context variable."""
    import torch

    if not getattr(model, "_sasc_checkpoints", False):
        for mod in model.modules():
            if isinstance(mod, torch.nn.ModuleList):
                for block in mod:
                    block.register_forward_pre_hook(_before_block)
        model._sasc_checkpoints = True
    return model


def _before_block(module: Any, args: Any) -> None:
    checkpoint()


def carry(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` made to run, on whatever thread calls it, under the stop check installed here and now."""
    check = _CHECK.get()
    if check is None:
        return fn

    def run(*args: Any, **kwargs: Any) -> T:
        with stop_check(check):
            return fn(*args, **kwargs)
    return run
