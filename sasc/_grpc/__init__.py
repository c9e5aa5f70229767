"""Generated gRPC stubs for proto/sasc/v1 (scripts/gen_protos.sh); do not edit."""
