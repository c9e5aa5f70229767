"""The RPCs: each converts, calls one library/registry function, converts (the caller was
authenticated by :class:`server.auth.AuthInterceptor` before the method runs)."""

from __future__ import annotations

from sasc._grpc import jobs_pb2 as jpb
from sasc._grpc import jobs_pb2_grpc
from sasc._grpc import modules_pb2 as mpb
from sasc._grpc import modules_pb2_grpc
from sasc.cancel import stop_check, while_active
from sasc.modules import known_kinds

from . import converters as cv
from .auth import caller
from .jobs import JobQueue
from .registry import ModuleRegistry
from .status import rpc


class ModuleServicer(modules_pb2_grpc.ModuleServiceServicer):
    def __init__(self, registry: ModuleRegistry):
        self.registry = registry

    @rpc
    def RegisterModule(self, request_iterator, context):
        owner = caller(context).name
        kind, params, name, arrays = cv.register_request(request_iterator, self.registry.array_budget(owner))
        return cv.module_to_proto(self.registry.register(owner, kind, params, name, arrays))

    @rpc
    def HostModule(self, request_iterator, context):
        owner = caller(context).name
        hello = cv.host_hello(next(request_iterator, None))
        rec, bank = self.registry.host(owner, hello.display_name, list(hello.units), hello.max_batch_size,
                                       hello.fingerprint, token_responses=hello.token_responses)
        context.add_callback(lambda: self.registry.unhost(rec.id, "the client disconnected"))
        try:
            bank.serve(request_iterator, cv.host_values)
            yield mpb.HostRequest(ready=mpb.HostReady(module=cv.module_to_proto(rec), batch_size=bank.batch_size,
                                                      batch_deadline_s=bank.deadline_s))
            for batch_id, texts, per_token in bank.outgoing():
                yield mpb.HostRequest(batch=mpb.HostBatch(batch_id=batch_id, texts=texts, per_token=per_token))
        finally:
            self.registry.unhost(rec.id, bank.closed or "the stream ended")

    @rpc
    def ListModules(self, request, context):
        owner = caller(context).name
        return mpb.ListModulesResponse(modules=[cv.module_to_proto(r) for r in self.registry.records(owner)])

    @rpc
    def GetModule(self, request, context):
        owner = caller(context).name
        return cv.module_to_proto(self.registry.record(owner, request.module_id))

    @rpc
    def DeleteModule(self, request, context):
        owner = caller(context).name
        self.registry.delete(owner, request.module_id)
        return mpb.DeleteModuleResponse()

    @rpc
    def Evaluate(self, request, context):
        owner = caller(context).name
        units, values = self.registry.evaluate(owner, request.module_id, list(request.texts),
                                               cv.unit_selection(request.unit_names, request.unit_indices),
                                               active=context.is_active)
        return cv.values_to_proto(units, values)

    @rpc
    def ListKinds(self, request, context):
        return mpb.ListKindsResponse(kinds=known_kinds())


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, jobs: JobQueue):
        self.jobs = jobs

    @rpc
    def SubmitJob(self, request, context):
        owner = caller(context).name
        spec = cv.job_spec(request, self.jobs.config.max_texts_per_call, self.jobs.helpers)
        return cv.job_to_proto(self.jobs.submit(owner, spec, request.idempotency_key))

    @rpc
    def WatchJob(self, request, context):
        owner = caller(context).name
        for rec in self.jobs.watch(owner, request.job_id, context.is_active):
            yield jpb.JobEvent(job=cv.job_to_proto(rec))

    @rpc
    def GetJob(self, request, context):
        owner = caller(context).name
        return cv.job_to_proto(self.jobs.get(owner, request.job_id), with_result=not request.omit_result)

    @rpc
    def ListJobs(self, request, context):
        owner = caller(context).name
        return jpb.ListJobsResponse(jobs=[cv.job_to_proto(r, with_result=False) for r in self.jobs.store.jobs(owner)])

    @rpc
    def CancelJob(self, request, context):
        owner = caller(context).name
        return cv.job_to_proto(self.jobs.cancel(owner, request.job_id))

    @rpc
    def DeleteJob(self, request, context):
        owner = caller(context).name
        self.jobs.delete(owner, request.job_id)
        return jpb.DeleteJobResponse()

    @rpc
    def Score(self, request, context):
        owner = caller(context).name
        args = cv.score_request(request, self.jobs.config.max_texts_per_call, self.jobs.helpers)
        with stop_check(while_active(context.is_active)):  # the client's cancel or deadline stops the scoring
            return cv.score_response(self.jobs.score(owner, **args))

