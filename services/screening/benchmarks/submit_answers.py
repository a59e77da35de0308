"""SubmitAnswers per second against screening alone (no gateway), and a bare gRPC server
answering the same request at once, measured in the same run.

    uv run --frozen python services/screening/benchmarks/submit_answers.py [--students 3000]

Needs the local PostgreSQL, Kafka and Keycloak (`make infra-up`). Screening is built as
`screening serve` builds it (relay included), on a throwaway schema, with identity faked (a
class of --students); its sitting tokens go to a client process that sends each submission
once at --concurrency clients with the gateway's real client token. The bare server runs the
same way. It prints requests/s, the server process's CPU milliseconds per request for both,
and their ratio. It is not a test: it asserts nothing about speed
(`tests/integration/test_submit_benchmark.py` only checks that it runs).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "unit"))
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))

GAD_7 = {"instrument_id": "gad-7", "version": "1.0.0"}
ANSWERS = {f"q{n}": n % 4 for n in range(1, 8)}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _screening(students: int, ready: Any, measure: Any) -> None:
    from fakes import CLASS, COUNTY_ADMIN, PSYCH, FakeIdentity, World, student
    from pydantic import SecretStr
    from sqlalchemy import text
    from storage_support import DATABASE_URL

    from screening.adapters.db.tables import metadata
    from screening.bootstrap import build
    from screening.config import ScreeningSettings
    from screening.domain.codes import SittingClaims, SittingKeys
    from xinyu_core.db import make_engine
    from xinyu_core.settings import KafkaSettings, KeycloakSettings

    schema = f"bench_submit_{uuid.uuid4().hex[:8]}"
    url = f"{DATABASE_URL}?options=-csearch_path%3D{schema}"
    admin = make_engine(DATABASE_URL, pool_size=1)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_engine(url, pool_size=1)
    async with scoped.begin() as connection:
        await connection.run_sync(metadata.create_all)
    await scoped.dispose()
    key = "dev-sitting-token-key-for-the-benchmark-0123"
    settings = ScreeningSettings(
        database_url=SecretStr(url),
        grpc_listen="127.0.0.1:0",
        kafka=KafkaSettings(username="screening", password=SecretStr("dev-kafka-screening")),
        keycloak=KeycloakSettings(
            client_id="screening", client_secret=SecretStr("dev-kc-screening")
        ),
        field_encryption_key=SecretStr("deadbeefdeadbeef" + "cd" * 24),
        sitting_token_key=SecretStr(key),
    )
    identity = FakeIdentity()
    identity.students[CLASS] = [student(n) for n in range(1, students + 1)]
    service = build(settings, identity=identity)
    try:
        await service.shelf.refresh()
        await service.server.start()
        relay = asyncio.create_task(service.relay.run())
        now = datetime.now(UTC)
        world = World()
        campaign = await service.servicer._campaigns.open(
            COUNTY_ADMIN,
            world.draft(opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=3)),
        )
        started = await service.servicer._sittings.start(PSYCH, str(campaign.campaign_id), CLASS, 0)
        keys = SittingKeys(key.encode())
        tokens = [
            keys.issue(
                SittingClaims(slip.student_id, started.sitting.sitting_id),
                now,
                started.sitting.expires_at,
            )
            for slip in started.slips
        ]
        answers = service.servicer._sittings._answers
        await _serve_measured(service.server.port, tokens, ready, measure)
        for name in ("seats", "writes"):
            batcher = getattr(answers, name)
            if batcher.batches:
                size = batcher.items / batcher.batches
                print(f"screening {name}: {batcher.batches} batches, {size:.1f} per batch")
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
    finally:
        await service.server.stop(0)
        await service.close()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def _serve_measured(port: int, tokens: list[str], ready: Any, measure: Any) -> None:
    ready.send(json.dumps({"port": port, "tokens": tokens}))
    profile_to = await asyncio.to_thread(measure.recv)  # the client's warm-up is done
    profiler = cProfile.Profile() if profile_to else None
    cpu = _cpu()
    if profiler is not None:
        profiler.enable()
    await asyncio.to_thread(measure.recv)  # the measured run is done
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_to)
    measure.send(_cpu() - cpu)


async def _bare(students: int, ready: Any, measure: Any) -> None:
    import grpc

    from xinyu.screening.v1 import screening_pb2, screening_pb2_grpc

    class Bare(screening_pb2_grpc.ScreeningServiceServicer):
        async def SubmitAnswers(
            self, request: Any, context: grpc.aio.ServicerContext
        ) -> screening_pb2.SubmitAnswersResponse:
            return screening_pb2.SubmitAnswersResponse(submission_id=request.submission_id)

    server = grpc.aio.server()
    screening_pb2_grpc.add_ScreeningServiceServicer_to_server(Bare(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await _serve_measured(port, ["bare"] * students, ready, measure)
    finally:
        await server.stop(0)


def _server(kind: str, students: int, ready: Any, measure: Any) -> None:
    asyncio.run((_screening if kind == "screening" else _bare)(students, ready, measure))


async def _client(
    port: int, tokens: list[str], concurrency: int, warmup: int, measure: Any, profile: str
) -> float:
    import grpc

    from xinyu.screening.v1 import screening_pb2 as pb
    from xinyu.screening.v1 import screening_pb2_grpc
    from xinyu_core.grpc.client import bearer_metadata
    from xinyu_e2e import client_token

    metadata = bearer_metadata(client_token("gateway", "dev-kc-gateway"))
    ref = pb.InstrumentRef(**GAD_7)

    def request(token: str) -> Any:
        return pb.SubmitAnswersRequest(
            sitting_token=token, instrument=ref, answers=ANSWERS, submission_id=str(uuid.uuid4())
        )

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = screening_pb2_grpc.ScreeningServiceStub(channel)
        for token in tokens[:warmup]:
            await stub.SubmitAnswers(request(token), metadata=metadata, timeout=30)
        measure.send(profile)  # "": no profile
        queue = list(reversed(tokens[warmup:]))

        async def worker() -> None:
            while queue:
                await stub.SubmitAnswers(request(queue.pop()), metadata=metadata, timeout=30)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        measure.send("done")
    return elapsed


def measure(
    kind: str, students: int, concurrency: int, warmup: int, profile: str = ""
) -> tuple[float, float]:
    """Requests/s and the server's CPU ms per request; with ``profile``, the server's
    event loop thread is profiled (cProfile) during the measured run, its stats written
    there."""
    context = multiprocessing.get_context("spawn")
    ready_parent, ready_child = context.Pipe()
    measure_parent, measure_child = context.Pipe()
    process = context.Process(
        target=_server, args=(kind, students + warmup, ready_child, measure_child)
    )
    process.start()
    setup = json.loads(ready_parent.recv())
    elapsed = asyncio.run(
        _client(setup["port"], setup["tokens"], concurrency, warmup, measure_parent, profile)
    )
    cpu_seconds = float(measure_parent.recv())
    process.join(timeout=60)
    return students / elapsed, 1000 * cpu_seconds / students


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument(
        "--profile",
        default="",
        help="write cProfile stats of screening's measured run here (CPU figures then include"
        " the profiler's cost)",
    )
    args = parser.parse_args(argv)
    rows = {
        kind: measure(
            kind,
            args.students,
            args.concurrency,
            args.warmup,
            args.profile if kind == "screening" else "",
        )
        for kind in ("bare-grpc", "screening")
    }
    print(f"{args.students} SubmitAnswers at {args.concurrency} clients, each once")
    print(f"{'target':<10} {'req/s':>8} {'server CPU ms/req':>18}")
    for kind, (rate, cpu) in rows.items():
        print(f"{kind:<10} {rate:>8.0f} {cpu:>18.2f}")
    (bare_rate, bare_cpu), (rate, cpu) = rows["bare-grpc"], rows["screening"]
    ratio = cpu / bare_cpu
    print(f"screening/bare-grpc: throughput {rate / bare_rate:.2f}, CPU per request {ratio:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
