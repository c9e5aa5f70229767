"""The sasc gRPC service (``sasc serve``): a thin adapter over the library.

``servicers`` (RPCs) -> ``converters`` (proto <-> library) -> ``registry`` (modules, incl.
client-hosted ones in ``hosted``) and ``jobs`` (worker pool over ``store``, SQLite);
``status`` maps exceptions to status codes; ``auth`` maps bearer tokens to clients;
``containment`` decides which paths and helpers a request may name; ``streams`` counts open
streams per client; ``config`` holds every setting; ``app`` assembles the server; ``cli`` adds ``sasc serve``.
"""

# Before anything imports the generated stubs or grpc_health: one clear error for a too-old grpcio/protobuf.
from sasc.grpc_runtime import SERVER_NEEDS, require_grpc_runtime

require_grpc_runtime(SERVER_NEEDS)
