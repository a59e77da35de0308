"""`identity serve` as a real process: it becomes SERVING, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="xinyu.identity.v1.IdentityService"),
                timeout=1,
            )
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def test_serve_answers_health_and_stops_on_sigterm() -> None:
    port = free_port()
    env = {**os.environ, "IDENTITY_GRPC_LISTEN": f"127.0.0.1:{port}"}
    subprocess.run(
        [str(ROOT / "infra/local/run-service"), "identity", "migrate"],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )
    process = subprocess.Popen(
        [str(ROOT / "infra/local/run-service"), "identity", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not serving(port):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "identity never became SERVING"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        output = process.stdout.read().decode() if process.stdout else ""
        assert "stopping: draining calls" in output
    finally:
        if process.poll() is None:
            process.kill()
