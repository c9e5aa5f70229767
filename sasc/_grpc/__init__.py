"""Generated gRPC stubs for proto/sasc/v1 (scripts/gen_protos.sh); do not edit."""
# The generated modules check grpcio/protobuf themselves with errors that do not say how to fix them;
# check first and raise one sasc DependencyError instead.
from sasc.grpc_runtime import require_grpc_runtime

require_grpc_runtime()
