"""sasc.cancel: a stop check reaches module batch loops without changing their results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
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


def test_layer_checks_leave_outputs_unchanged_and_stop_a_forward_pass():
    torch = pytest.importorskip("torch")
    from sasc.cancel import check_between_layers

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(torch.nn.Linear(8, 8) for _ in range(6))

        def forward(self, x):
            for layer in self.layers:
                x = torch.tanh(layer(x))
            return x

    torch.manual_seed(0)
    net, x = Net(), torch.randn(32, 8)
    plain = net(x)
    assert check_between_layers(check_between_layers(net)) is net  # hooks go on once
    seen = []
    with stop_check(lambda: seen.append(1)):
        assert torch.equal(net(x), plain) and len(seen) == 6  # one check before each layer

    def stop():
        seen.append(1)
        if len(seen) > 8:
            raise CancelledError("stop")
    with stop_check(stop), pytest.raises(CancelledError):
        net(x)  # stopped before its third layer
    assert len(seen) == 9


@pytest.mark.slow
def test_minilm_stops_inside_one_batch_and_is_unchanged_otherwise(minilm_food):
    texts = [f"the food number {i} was good" for i in range(64)]  # one internal batch
    plain = minilm_food.responses(texts)
    seen = []
    with stop_check(lambda: seen.append(1)):
        assert np.array_equal(minilm_food.responses(texts), plain) and len(seen) >= 6

    def stop():
        raise CancelledError("stop")
    with stop_check(stop), pytest.raises(CancelledError):
        minilm_food.responses(texts)


def test_while_active_raises_once_inactive():
    from sasc.cancel import while_active
    from sasc.errors import CancelledError

    state = {"on": True}
    check = while_active(lambda: state["on"])
    check()  # active: nothing happens
    state["on"] = False
    with pytest.raises(CancelledError, match="cancelled or its deadline passed"):
        check()
