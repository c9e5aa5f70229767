import gc

import pytest

from sasc.gcpause import gc_paused


@pytest.fixture(autouse=True)
def _restore_gc():
    was = gc.isenabled()
    yield
    gc.enable() if was else gc.disable()


def test_pauses_and_restores_even_on_error():
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the inner block does not switch it back on
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_leaves_a_disabled_collector_disabled():
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_planning_runs_with_the_collector_paused_and_restores_it():
    from sasc.responses import plan_shards

    seen = []

    class Bank:
        units = ["u"]

        def dedupe_keys(self, texts):
            seen.append(gc.isenabled())
            return [tuple(map(ord, t)) for t in texts]

        def responses(self, texts):
            return [[0.0] for _ in texts]

    gc.enable()
    plan_shards(Bank(), ["a", "b"], 1)
    assert seen == [False] and gc.isenabled()
