"""Pure parts of the D3 worker pool: core split, default worker count, errors that cross
the process boundary. (The pool end to end: tests/test_d3.py.)"""

from __future__ import annotations

import pickle

import pytest

from sasc.bench.parallel import _portable, auto_workers, core_groups
from sasc.errors import ConfigError, SascError


def test_core_groups_are_disjoint_when_there_are_enough_cores():
    assert core_groups([0, 1], 2) == [(0,), (1,)]
    assert core_groups([3, 0, 2, 1], 2) == [(0, 2), (1, 3)]
    assert core_groups([0, 1, 2], 1) == [(0, 1, 2)]
    groups = core_groups(range(16), 4)
    assert sorted(c for g in groups for c in g) == list(range(16)) and {len(g) for g in groups} == {4}


def test_core_groups_share_cores_when_workers_outnumber_them():
    assert core_groups([5], 3) == [(5,), (5,), (5,)]
    assert core_groups([0, 1], 3) == [(0,), (1,), (0,)]
    with pytest.raises(ConfigError):
        core_groups([0, 1], 0)
    with pytest.raises(ConfigError):
        core_groups([], 2)


def test_auto_workers_one_per_core_within_memory_for_a_local_helper():
    assert auto_workers(2, 23.5, helper_is_local=True) == 2
    assert auto_workers(16, 128, helper_is_local=True) == 4  # capped
    assert auto_workers(16, 9, helper_is_local=True) == 2  # 4.5 GiB each
    assert auto_workers(16, 8.9, helper_is_local=True) == 1
    assert auto_workers(8, 2, helper_is_local=True) == 1  # never 0
    assert auto_workers(1, 64, helper_is_local=True) == 1
    assert auto_workers(16, 128, helper_is_local=False) == 1  # a remote helper gains nothing from cores


class TwoPartError(Exception):
    """Pickles, but cannot be unpickled: its __init__ needs two arguments."""

    def __init__(self, module: str, detail: str):
        super().__init__(f"{module}: {detail}")


def test_errors_reach_the_parent_with_their_type_or_their_name():
    err = ConfigError("bad n-gram settings")
    assert _portable(err) is err
    odd = TwoPartError("bank", "NaN for 'a text'")
    with pytest.raises(TypeError):
        pickle.loads(pickle.dumps(odd))
    moved = _portable(odd)
    assert type(moved) is SascError and str(moved) == "TwoPartError: bank: NaN for 'a text'"
    assert str(pickle.loads(pickle.dumps(moved))) == str(moved)


def test_workers_end_when_their_parent_is_killed(tmp_path):
    """kill -9 of the process running the pool: its spawned worker exits on its own (parent watch)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pidfile = tmp_path / "worker.pid"
    script = f"""
import os, time
from sasc.bench.parallel import exit_with_parent
import multiprocessing as mp

def child(path):
    exit_with_parent(poll_s=0.1)
    open(path, "w").write(str(os.getpid()))
    time.sleep(60)

if __name__ == "__main__":
    p = mp.get_context("spawn").Process(target=child, args=({str(pidfile)!r},))
    p.start()
    p.join()
"""
    (tmp_path / "run.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "run.py")], cwd=os.getcwd())
    deadline = time.monotonic() + 60
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline and parent.poll() is None, "the worker never started"
        time.sleep(0.1)
    worker = int(pidfile.read_text())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError("the worker outlived its killed parent by 10 s")
