"""``progress_event``: what `Client.watch_job` shows for each job-progress snapshot."""

from __future__ import annotations

from sasc._grpc import jobs_pb2 as jpb
from sasc.client import progress_event
from sasc.progress import ProgressEvent


def test_snapshots_of_running_stages_are_shown_as_they_are():
    p = jpb.JobProgress(stage="responses", done=40, total=100, llm_calls=3)
    assert progress_event(p, None) == ProgressEvent("responses", 40, 100, "3 LLM calls")
    assert progress_event(jpb.JobProgress(stage="queued"), None) is None


def test_a_done_job_ends_the_explain_bar_at_its_finished_units():
    # the watcher saw 1 of 2 units, then the job finished between two snapshots
    shown = ProgressEvent("explain", 1, 2, "food")
    done = jpb.JobProgress(stage="done", done=2, total=2, units_done=2, fraction=1.0)
    assert progress_event(done, shown) == ProgressEvent("explain", 2, 2, "food")
    # nothing more to show when the last explain step was already seen, or when explain never began
    assert progress_event(done, ProgressEvent("explain", 2, 2, "crime")) is None
    assert progress_event(done, ProgressEvent("responses", 5, 5)) is None
    assert progress_event(done, None) is None
