"""Run sasc beyond one machine: the n-gram stage and many-unit jobs on a Ray cluster.

Optional: ``pip install 'sasc[ray]'``. Ray is imported only when a runner is used.

    from sasc.distributed import RayRunner, RayUnitRunner
    runner = RayRunner("embedding_distance:keyphrase=food", workers=4, address="auto")
    sasc.ngram_responses(bank, table, runner=runner)
    sasc.explain(bank, runner=runner, unit_runner=RayUnitRunner(..., helper="openai:gpt-4o-mini"))
"""

from __future__ import annotations

from .backend import BackendConfig, make_runners
from .ray_backend import RayRunner, RayStageStats, connect
from .spec import ModuleSpec, spec_of
from .units import HelperGate, RayUnitRunner

__all__ = ["BackendConfig", "HelperGate", "ModuleSpec", "RayRunner", "RayStageStats", "RayUnitRunner", "connect",
           "make_runners", "spec_of"]
