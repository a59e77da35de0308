"""gRPC server and client building blocks (grpc.aio)."""
