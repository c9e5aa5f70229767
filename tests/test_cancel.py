"""sasc.cancel: a stop check reaches module batch loops without changing their results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from sasc.cancel import carry, checkpoint, stop_check
from sasc.errors import CancelledError


def test_checkpoint_calls_the_check_of_this_context_only():
    calls = []
    checkpoint()  # no check installed: nothing happens
    with stop_check(lambda: calls.append(1)):
        checkpoint()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(checkpoint).result()  # another thread does not see it
            pool.submit(carry(checkpoint)).result()  # unless it is carried there
    checkpoint()
    assert calls == [1, 1]


def test_a_raising_check_stops_fista_and_a_quiet_one_changes_nothing():
    torch = pytest.importorskip("torch")
    from sasc.modules.sparse_coding import fista

    gen = torch.Generator().manual_seed(0)
    x, phi = torch.randn(300, 16, generator=gen), torch.randn(16, 40, generator=gen)
    plain = fista(x, phi, 0.1, n_iter=200, tol=0)
    seen = []
    with stop_check(lambda: seen.append(1)):
        checked = fista(x, phi, 0.1, n_iter=200, tol=0)
    assert torch.equal(plain, checked) and len(seen) == 20  # every 10th of 200 iterations, bit-identical

    def stop():
        if len(seen) >= 23:
            raise CancelledError("stop")
        seen.append(1)
    with stop_check(stop), pytest.raises(CancelledError):
        fista(x, phi, 0.1, n_iter=200, tol=0)
