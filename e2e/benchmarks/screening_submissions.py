"""Screening submissions per second through the gateway, with real tokens, against a bare
FastAPI endpoint and a bare gRPC call measured in the same run.

    uv run --frozen python e2e/benchmarks/screening_submissions.py                 # 3,000 students
    uv run --frozen python e2e/benchmarks/screening_submissions.py --students 600

Needs the running platform (`make up`). What it does:

  set-up    through the gateway, as the demo staff with their Keycloak tokens: the school admin
            uploads a roster of --students invented students (deterministic numbers, so a
            second run changes nothing) into junior-secondary classes of 50 of the demo
            school; 章贡区 opens a campaign with --instruments for it; the psychology teacher
            starts one sitting per class; every student joins with the join code and their
            personal code (no token) and gets a real sitting token. Each student then has one
            submission per instrument to make, answers drawn at random from each item's
            options (a few item-9 answers, so some results are flagged).
  gateway   closed loop: POST /v1/screening/sittings/submissions with the sitting token, each
            submission once, at each --concurrency (32 and 128 clients on persistent
            connections), every client sending its next submission the moment the previous one
            is answered: the gateway's route, its gRPC call to screening, screening's scoring,
            sealing and storing (with its outbox rows), PostgreSQL. This measures the most the
            platform serves (throughput) and the latency when it is saturated: with N clients
            always waiting, mean latency = N / throughput, whatever the platform does.
  paced     open loop, after the closed loops: --paced-clients (128) connections offer a fixed
            --paced-rate (420/s, the target) for --paced-seconds (10 s; at most a third of the
            submissions, the closed loops get the rest). Submission k is due at start + k / rate;
            each client takes the next due submission when it is free and sends it at its due
            time. Latency is measured from the due time, not from when a client got to it, so
            a submission that waited for a free client counts that wait (no coordinated
            omission). It prints the achieved rate (completions per second between the first and
            the last), p50/p99/max latency, how late the sends left, CPU per submission, and
            whether it kept up (achieved ≥ 98 % of the offered rate, no send more than 1 s
            late, every submission accepted). This is how a class period loads the platform:
            students arrive at a rate, they do not hammer; "sustain 420/s with p99 < 300 ms at
            128 clients" is judged here. At low rates its CPU per submission includes the
            processes' idle work (the relay's polls), so compare CPU at the closed loops.
  bare-http the same request to a trivial FastAPI app (the gateway's request model, a
            constant answer) under uvicorn with the gateway's loop and parser, started here.
  bare-grpc SubmitAnswers on a trivial grpc.aio server answering at once, started here, from a
            grpc.aio client in this process.
  gw>bare-grpc  this code base's gateway (the local stack's settings, a free port, started
            here) in front of the bare gRPC server: the gateway's own cost, without
            screening's.

It prints requests/s and p50/p99 latency per target and concurrency, the gateway's ratios to
both baselines, CPU milliseconds per submission of each process (where the time goes), the peak
memory (VmHWM) of each process, and checks in screening's database that every accepted
submission (closed loops and paced phase) is stored exactly once and nothing else was. The load
generator is a minimal HTTP/1.1 client on uvloop (pre-built requests, one keep-alive connection
per client), so it costs as little as possible of the same two cores. Afterwards it completes
the guardian tasks the run's flagged results opened (--flagged of the sittings, 2 % by default)
and closes its campaign, so the demo school's working lists stay as they were
(``screening_submissions.py tidy`` does the same for earlier runs). It is not a test: it
asserts nothing about speed; ``e2e/tests/test_screening_benchmark.py`` only checks that it
runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

from gateway.routers.screening import SubmissionBody
from xinyu_e2e import GATEWAY_URL, password_token
from xinyu_e2e.screening import JUNIOR_BAND, junior_cohort
from xinyu_e2e.seed import DEMO_COUNTY, DEMO_SCHOOL, ensure_demo_world

ROOT = Path(__file__).resolve().parents[2]
SCREENING_DATABASE = os.environ.get(
    "XINYU_E2E_SCREENING_DB",
    "postgresql://screening:dev-db-screening@127.0.0.1:5433/screening",
)
SUBMIT_PATH = "/v1/screening/sittings/submissions"
ROSTER_HEADER = "学籍号,姓名,性别,出生日期,学校标识码,入学年份,班级\n"
FIRST_CLASS_NUMBER = 11
CLASS_SIZE = 50
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TARGET_RATE, TARGET_P99_MS = 420.0, 300.0
AIM_RATE, AIM_P99_MS = 1000.0, 100.0
# The paced phase kept up when it completed at least this share of the offered rate and no
# submission left more than this long after its due time (every client busy).
PACED_KEPT_UP, PACED_MOST_LATE_MS = 0.98, 1000.0


# --- staff tokens (Keycloak tokens live five minutes; set-up may take longer) -------------


class Staff:
    def __init__(self) -> None:
        self._tokens: dict[str, tuple[float, str]] = {}

    def __call__(self, user: str) -> dict[str, str]:
        issued, token = self._tokens.get(user, (0.0, ""))
        if time.monotonic() - issued > 180:
            token = password_token(user)
            self._tokens[user] = (time.monotonic(), token)
        return {"Authorization": f"Bearer {token}"}


def ok(reply: httpx.Response, *expected: int) -> Any:
    if reply.status_code not in (expected or (200, 201)):
        raise SystemExit(
            f"set-up failed: {reply.request.method} {reply.request.url.path} "
            f"{reply.status_code} {reply.text[:500]}"
        )
    return reply.json()


# --- set-up through the gateway ----------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """One submission to make: the pre-built HTTP request and its id."""

    submission_id: str
    request: bytes


def roster(students: int, cohort: int) -> str:
    """Student i is always in the same class, whatever --students says, so runs of different
    sizes never move anybody."""
    rows = []
    for i in range(students):
        number = f"G3607022013{i:07d}X"
        birth = f"2013-{1 + i % 12:02d}-{1 + i % 28:02d}"
        gender = "男" if i % 2 else "女"
        klass = FIRST_CLASS_NUMBER + i // CLASS_SIZE
        rows.append(f"{number},压测学生{i},{gender},{birth},{DEMO_SCHOOL},{cohort},{klass}\n")
    return ROSTER_HEADER + "".join(rows)


def import_roster(client: httpx.Client, staff: Staff, text: str) -> dict[str, Any]:
    started = ok(
        client.post(
            "/v1/rosters",
            files={"file": ("roster.csv", text.encode("utf-8"), "text/csv")},
            data={"scope_code": DEMO_SCHOOL},
            headers=staff("school.admin"),
        ),
        202,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        job: dict[str, Any] = ok(
            client.get(f"/v1/rosters/{started['job_id']}", headers=staff("school.admin"))
        )
        if job["status"] == "succeeded":
            return job
        if job["status"] == "failed":
            raise SystemExit(f"the roster import failed: {job['failure']} {job['errors'][:3]}")
        time.sleep(0.5)
    raise SystemExit("the roster import did not finish in 10 minutes")


def _items_named(condition: Any) -> set[str]:
    """The items a condition (of a critical rule) looks at."""
    if isinstance(condition, dict):
        found = {condition["item"]} if isinstance(condition.get("item"), str) else set()
        for value in condition.values():
            found |= _items_named(value)
        return found
    if isinstance(condition, list):
        return set().union(*(_items_named(value) for value in condition))
    return set()


def answer_maker(
    definition: dict[str, Any], flagged_share: float
) -> Callable[[random.Random], dict[str, int]]:
    """Answers to every item that is always asked (items asked only after others are left
    out): mostly the lowest options, as in a school population; the items critical rules look
    at stay at their lowest option except in ``flagged_share`` of the sittings, where one of
    them gets its highest (a flagged result and a guardian task, as a real screening day has
    a few)."""
    option_sets = definition.get("option_sets") or {}
    critical = set().union(*(_items_named(rule["when"]) for rule in definition.get("critical", [])))
    items = []
    for item in definition["items"]:
        if item.get("show_if") is not None:
            continue
        options = item["options"]
        if isinstance(options, str):
            options = option_sets[options]
        items.append((item["id"], [option["value"] for option in options]))
    flaggable = [item_id for item_id, _ in items if item_id in critical]

    def make(rng: random.Random) -> dict[str, int]:
        answers = {}
        for item_id, values in items:
            if item_id in critical:
                answers[item_id] = values[0]
                continue
            weights = [0.7, 0.2, 0.07, 0.03][: len(values)] + [0.01] * (len(values) - 4)
            answers[item_id] = rng.choices(values, weights=weights[: len(values)])[0]
        if flaggable and rng.random() < flagged_share:
            item_id = rng.choice(flaggable)
            answers[item_id] = dict(items)[item_id][-1]
        return answers

    return make


def set_up(args: argparse.Namespace, staff: Staff) -> tuple[str, list[Work], dict[str, float]]:
    """The campaign id, the submissions to make, and how long each set-up step took."""
    timings: dict[str, float] = {}
    host = urlsplit(GATEWAY_URL).netloc
    with httpx.Client(base_url=GATEWAY_URL, timeout=120.0) as client:
        ensure_demo_world(client)
        cohort = junior_cohort()
        started = time.perf_counter()
        classes = math.ceil(args.students / CLASS_SIZE)
        job = import_roster(client, staff, roster(args.students, cohort))
        timings["roster import"] = time.perf_counter() - started
        print(
            f"roster: {job['rows_total']:,} students in {classes} classes of {cohort} "
            f"({job['rows_created']:,} new) in {timings['roster import']:.1f} s"
        )
        refs = [
            {"instrument_id": ref.split("@")[0], "version": ref.split("@")[1]}
            for ref in args.instruments.split(",")
        ]
        makers = {}
        for ref in refs:
            found = ok(
                client.get(
                    f"/v1/screening/instruments/{ref['instrument_id']}/{ref['version']}",
                    headers=staff("psych.teacher"),
                )
            )
            makers[ref["instrument_id"]] = answer_maker(found["definition"], args.flagged)
        now = time.time()
        campaign = ok(
            client.post(
                "/v1/screening/campaigns",
                json={
                    "name": f"benchmark {time.strftime('%Y-%m-%d %H:%M:%S')}",
                    "kind": "annual",
                    "scope_code": DEMO_COUNTY,
                    "school_codes": [DEMO_SCHOOL],
                    "cohorts": [cohort],
                    "opens_at": _iso(now - 300),
                    "closes_at": _iso(now + 86400),
                    "batteries": [{"grade_band": JUNIOR_BAND, "instruments": refs}],
                    "consent_required_under_age": 0,
                },
                headers=staff("zhanggong.admin"),
            ),
            201,
        )
        campaign_id = campaign["campaign_id"]
        started = time.perf_counter()
        slips: list[tuple[str, str]] = []
        for number in range(FIRST_CLASS_NUMBER, FIRST_CLASS_NUMBER + classes):
            sitting = ok(
                client.post(
                    "/v1/screening/sittings",
                    json={
                        "campaign_id": campaign_id,
                        "class_code": f"{DEMO_SCHOOL}-{cohort}-{number:02d}",
                        "minutes": 240,
                    },
                    headers=staff("psych.teacher"),
                ),
                201,
            )
            join_code = sitting["sitting"]["join_code"]
            slips.extend((join_code, p["personal_code"]) for p in sitting["participants"])
        timings["sittings"] = time.perf_counter() - started
        print(f"sittings: {classes} started, {len(slips):,} slips")
    started = time.perf_counter()
    tokens = asyncio.run(_join_all(slips))
    timings["joins"] = time.perf_counter() - started
    print(
        f"joins: {len(tokens):,} students joined through the gateway in "
        f"{timings['joins']:.1f} s ({len(tokens) / timings['joins']:,.0f}/s at 32 clients)"
    )
    rng = random.Random(args.seed)
    work = []
    for token in tokens:
        for ref in refs:
            submission_id = str(uuid.uuid4())
            body = json.dumps(
                {
                    **ref,
                    "answers": makers[ref["instrument_id"]](rng),
                    "submission_id": submission_id,
                },
                separators=(",", ":"),
            ).encode()
            head = (
                f"POST {SUBMIT_PATH} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            work.append(Work(submission_id, head + body))
    rng.shuffle(work)
    return campaign_id, work, timings


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


async def _join_all(slips: list[tuple[str, str]]) -> list[str]:
    tokens: list[str] = []
    pending = iter(slips)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=GATEWAY_URL, timeout=60.0, limits=limits) as client:

        async def joiner() -> None:
            for join_code, personal_code in pending:
                reply = await client.post(
                    "/v1/screening/sittings/join",
                    json={"join_code": join_code, "personal_code": personal_code},
                )
                if reply.status_code != 200:
                    raise SystemExit(f"join failed: {reply.status_code} {reply.text[:300]}")
                tokens.append(reply.json()["sitting_token"])

        await asyncio.gather(*(joiner() for _ in range(32)))
    return tokens


# --- the load generator ------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection; requests are pre-built bytes."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    async def send(self, request: bytes) -> tuple[int, bytes]:
        reader, writer = (
            (self.reader, self.writer)
            if self.reader is not None and self.writer is not None
            else await self._open()
        )
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        start = lower.find(b"content-length:")
        if start >= 0:
            end = lower.index(b"\r\n", start)
            body = await reader.readexactly(int(lower[start + 15 : end]))
        elif b"transfer-encoding: chunked" in lower:
            body = await _chunked(reader)
        else:
            body = b""
        if b"connection: close" in lower:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


@dataclass
class Level:
    target: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    cpu_ms: dict[str, float] = field(default_factory=dict)
    # The paced phase only: the offered rate and how late each send left after its due time.
    offered: float = 0.0
    lags: list[float] = field(default_factory=list)
    completions: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    @property
    def completion_rate(self) -> float:
        """The paced phase's achieved rate: completions per second between the first and the
        last completion (the offered rate when it kept up, less when the answers fell behind)."""
        if len(self.completions) < 2:
            return 0.0
        span = max(self.completions) - min(self.completions)
        return (len(self.completions) - 1) / span if span else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


async def _drive(
    level: Level, concurrency: int, items: Iterable[Any], send: Callable[[Any], Awaitable[Any]]
) -> None:
    pending = iter(items)
    latencies = level.latencies
    clock = time.perf_counter

    async def client() -> None:
        for item in pending:
            began = clock()
            await send(item)
            latencies.append(clock() - began)

    began = clock()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    level.elapsed = clock() - began


async def http_level(
    target: str, host: str, port: int, concurrency: int, work: list[Work]
) -> Level:
    level = Level(target, concurrency)
    connections = [Connection(host, port) for _ in range(concurrency)]
    free = list(connections)
    for connection in connections:
        await connection._open()

    async def send(item: Work) -> None:
        connection = free.pop()
        try:
            status, _ = await connection.send(item.request)
        finally:
            free.append(connection)
        level.statuses[status] += 1
        if status == 201:
            level.accepted.append(item.submission_id)

    await _drive(level, concurrency, work, send)
    for connection in connections:
        await connection.close()
    return level


async def paced_level(
    target: str, host: str, port: int, clients: int, rate: float, work: list[Work]
) -> Level:
    """Open loop: submission k is due at ``start + k / rate`` whatever happened before; each of
    ``clients`` connections takes the next due submission as soon as it is free, waits for its
    due time if it is early, and sends it. Latency is measured from the due time, not from when
    a client got to it: when every client is busy the submission waits, and that wait counts
    (no coordinated omission). ``lag`` collects how late each send left after its due time."""
    level = Level(target, clients)
    connections = [Connection(host, port) for _ in range(clients)]
    for connection in connections:
        await connection._open()
    latencies, clock, sleep = level.latencies, time.perf_counter, asyncio.sleep
    pending = iter(enumerate(work))
    start = clock() + 0.05
    lags, completions = level.lags, level.completions

    async def client(connection: Connection) -> None:
        for k, item in pending:
            due = start + k / rate
            early = due - clock()
            if early > 0:
                await sleep(early)
            lags.append(clock() - due)
            status, _ = await connection.send(item.request)
            done = clock()
            latencies.append(done - due)
            completions.append(done)
            level.statuses[status] += 1
            if status == 201:
                level.accepted.append(item.submission_id)

    await asyncio.gather(*(client(connection) for connection in connections))
    level.elapsed = clock() - start
    for connection in connections:
        await connection.close()
    return level


async def grpc_level(target: str, address: str, concurrency: int, count: int) -> Level:
    import grpc

    from xinyu.screening.v1 import screening_pb2 as pb
    from xinyu.screening.v1 import screening_pb2_grpc

    level = Level(target, concurrency)
    request = pb.SubmitAnswersRequest(
        sitting_token="x" * 300,
        instrument=pb.InstrumentRef(instrument_id="phq-a", version="1.0.0"),
        answers={f"q{n}": 1 for n in range(1, 13)},
        submission_id=str(uuid.uuid4()),
    )
    async with grpc.aio.insecure_channel(address) as channel:
        stub = screening_pb2_grpc.ScreeningServiceStub(channel)
        await stub.SubmitAnswers(request, timeout=5)

        async def send(_: int) -> None:
            await stub.SubmitAnswers(request, timeout=5)
            level.statuses[200] += 1

        await _drive(level, concurrency, range(count), send)
    return level


# --- the bare baselines, run as their own processes --------------------------------------


def serve_bare_http(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, status

    app = FastAPI()

    @app.post(SUBMIT_PATH, status_code=status.HTTP_201_CREATED)
    async def submit(body: SubmissionBody) -> dict[str, Any]:
        return {"submission_id": str(body.submission_id), "duplicate": False}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_bare_grpc(port: int) -> None:
    import grpc

    from xinyu.screening.v1 import screening_pb2 as pb

    async def submit(request: Any, context: Any) -> Any:
        return pb.SubmitAnswersResponse(submission_id=request.submission_id)

    handler = grpc.method_handlers_generic_handler(
        "xinyu.screening.v1.ScreeningService",
        {
            "SubmitAnswers": grpc.unary_unary_rpc_method_handler(
                submit,
                request_deserializer=pb.SubmitAnswersRequest.FromString,
                response_serializer=pb.SubmitAnswersResponse.SerializeToString,
            )
        },
    )

    async def serve() -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((handler,))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(serve())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_bare(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, kind, "--port", str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the {kind} server did not start")


# --- processes: where the time and the memory go -----------------------------------------


def stack_pids() -> dict[str, int]:
    """The pids of the gateway, every screening process (screening, screening-2…) and
    PostgreSQL, from the local stack's supervisor."""
    found: dict[str, int] = {}
    try:
        status = subprocess.run(
            [str(ROOT / "infra/local/stack"), "status"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        status = ""
    for match in re.finditer(
        r"^(services:gateway|services:screening(?:-\d+)?|postgres)\s+RUNNING\s+pid (\d+)",
        status,
        re.MULTILINE,
    ):
        found[match.group(1).removeprefix("services:")] = int(match.group(2))
    return found


def _processes() -> Iterator[tuple[int, int, int, int]]:
    """(pid, parent pid, own CPU ticks, reaped children's CPU ticks) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        own = int(fields[11]) + int(fields[12])
        yield int(entry), int(fields[1]), own, int(fields[13]) + int(fields[14])


def cpu_ticks(roots: dict[str, int]) -> dict[str, int]:
    """CPU ticks of each root process: with its descendants, living and reaped (PostgreSQL's
    backends come and go), except for this process (its children are the bare servers)."""
    processes = list(_processes())
    children: dict[int, list[int]] = {}
    ticks = {pid: own + reaped for pid, _, own, reaped in processes}
    for pid, parent, _, _ in processes:
        children.setdefault(parent, []).append(pid)
    result = {}
    for name, root in roots.items():
        if root == os.getpid():
            result[name] = next(own for pid, _, own, _ in processes if pid == root)
            continue
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            total += ticks.get(pid, 0)
            todo.extend(children.get(pid, ()))
        result[name] = total
    return result


def peak_rss_mib(pid: int) -> float:
    """VmHWM, the process's peak resident set, in MiB (its workers' included; for this
    process only its own, its children are the bare servers)."""
    total = 0
    pids = [pid]
    if pid != os.getpid():
        pids += [p for p, parent, _, _ in _processes() if parent == pid]
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# --- the run -----------------------------------------------------------------------------


async def measure(
    kind: str,
    levels: list[int],
    work: list[Work],
    roots: dict[str, int],
    address: tuple[str, int],
    warmup: int,
) -> list[Level]:
    """Each concurrency level over its own slice of ``work`` (each submission is sent once)."""
    host, port = address
    results = []
    per_level = (len(work) - warmup) // len(levels)
    if warmup:
        await http_level(kind, host, port, 8, work[:warmup])
    for index, concurrency in enumerate(levels):
        items = work[warmup + index * per_level : warmup + (index + 1) * per_level]
        before = cpu_ticks(roots)
        level = await http_level(kind, host, port, concurrency, items)
        after = cpu_ticks(roots)
        level.cpu_ms = {
            name: (after[name] - before[name]) * 1000 / CLOCK_TICKS / max(level.count, 1)
            for name in after
        }
        results.append(level)
    return results


async def measure_paced(
    clients: int, rate: float, work: list[Work], roots: dict[str, int], address: tuple[str, int]
) -> Level:
    """The paced phase through the gateway (``paced_level``), with each process's CPU."""
    before = cpu_ticks(roots)
    level = await paced_level("gateway paced", *address, clients, rate, work)
    after = cpu_ticks(roots)
    level.offered = rate
    level.cpu_ms = {
        name: (after[name] - before[name]) * 1000 / CLOCK_TICKS / max(level.count, 1)
        for name in after
    }
    return level


def run(args: argparse.Namespace) -> int:
    levels = [int(c) for c in args.concurrency.split(",")]
    staff = Staff()
    campaign_id, work, _ = set_up(args, staff)
    pids = stack_pids()
    me = {"load generator": os.getpid()}
    gateway = urlsplit(GATEWAY_URL)
    gateway_address = (gateway.hostname or "127.0.0.1", gateway.port or 80)

    import uvloop

    # The paced phase gets its own submissions (at most a third of them), the closed loops
    # and the baselines the rest.
    paced_count = (
        min(round(args.paced_rate * args.paced_seconds), len(work) // 3) if args.paced_rate else 0
    )
    closed, paced_work = work[: len(work) - paced_count], work[len(work) - paced_count :]
    print(
        f"\n{len(work):,} submissions (every student of the sittings × "
        f"{len(args.instruments.split(','))} instruments): {len(closed):,} for the closed loops, "
        f"split over {levels} clients ({args.warmup} of them also warm up each baseline), "
        f"{paced_count:,} for the paced phase"
    )
    results = {
        "gateway": uvloop.run(
            measure("gateway", levels, closed, {**pids, **me}, gateway_address, 0)
        )
    }
    paced = None
    if paced_work:
        paced = uvloop.run(
            measure_paced(
                args.paced_clients, args.paced_rate, paced_work, {**pids, **me}, gateway_address
            )
        )
    bare_http, http_port = start_bare("bare-http")
    bare_grpc, grpc_port = start_bare("bare-grpc")
    own, own_port = start_gateway_over(grpc_port)
    servers = {"bare-http": bare_http, "bare-grpc": bare_grpc, "gw>bare-grpc": own}
    try:
        # Same requests (the tokens are only carried); the servers answer without storing.
        results["bare-http"] = uvloop.run(
            measure(
                "bare-http",
                levels,
                closed,
                {"bare-http": bare_http.pid, **me},
                ("127.0.0.1", http_port),
                args.warmup,
            )
        )
        grpc_levels = []
        for concurrency, gateway_level in zip(levels, results["gateway"], strict=True):
            before = cpu_ticks({"bare-grpc": bare_grpc.pid, **me})
            level = asyncio.run(
                grpc_level("bare-grpc", f"127.0.0.1:{grpc_port}", concurrency, gateway_level.count)
            )
            after = cpu_ticks({"bare-grpc": bare_grpc.pid, **me})
            level.cpu_ms = {
                name: (after[name] - before[name]) * 1000 / CLOCK_TICKS / max(level.count, 1)
                for name in after
            }
            grpc_levels.append(level)
        results["bare-grpc"] = grpc_levels
        results["gw>bare-grpc"] = uvloop.run(
            measure(
                "gw>bare-grpc",
                levels,
                closed,
                {"gateway": own.pid, "bare-grpc": bare_grpc.pid, **me},
                ("127.0.0.1", own_port),
                args.warmup,
            )
        )
        # PostgreSQL's backends share its buffers: their peaks do not add up, so not shown.
        memory = {name: peak_rss_mib(pid) for name, pid in pids.items() if name != "postgres"}
        memory.update((name, peak_rss_mib(process.pid)) for name, process in servers.items())
        memory["load generator"] = peak_rss_mib(os.getpid())
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(timeout=15)

    report(results, memory)
    if paced is not None:
        report_paced(paced)
    outcome = check_stored_once(
        campaign_id, results["gateway"] + ([paced] if paced is not None else [])
    )
    tidy_up([campaign_id], staff)
    return outcome


BENCHMARK_NOTE = "benchmark run: invented students, nobody to inform"


def tidy_up(campaign_ids: list[str], staff: Staff) -> None:
    """Leaves the demo school's working lists as they were: the guardian tasks the run's
    flagged results opened are completed (through the gateway, as the school admin) and the
    campaigns closed. The results stay: they are the school's history."""
    with psycopg.connect(SCREENING_DATABASE) as connection:
        rows = connection.execute(
            "SELECT t.task_id::text FROM guardian_tasks t JOIN results r USING (submission_id) "
            "WHERE r.campaign_id = ANY(%s::uuid[]) AND t.status = 'open'",
            (campaign_ids,),
        ).fetchall()
    tasks = [row[0] for row in rows]
    headers = staff("school.admin")

    async def complete() -> None:
        pending = iter(tasks)
        async with httpx.AsyncClient(base_url=GATEWAY_URL, timeout=60.0) as client:

            async def worker() -> None:
                for task_id in pending:
                    for attempt in range(5):
                        reply = await client.post(
                            f"/v1/screening/guardian-tasks/{task_id}/completion",
                            json={"note": BENCHMARK_NOTE},
                            headers=headers,
                        )
                        if reply.status_code != 503:
                            break
                        await asyncio.sleep(2**attempt)
                    ok(reply)

            await asyncio.gather(*(worker() for _ in range(16)))

    asyncio.run(complete())
    with httpx.Client(base_url=GATEWAY_URL, timeout=60.0) as client:
        for campaign_id in campaign_ids:
            for attempt in range(5):
                reply = client.post(
                    f"/v1/screening/campaigns/{campaign_id}/close",
                    headers=staff("zhanggong.admin"),
                )
                if reply.status_code != 503:
                    break
                time.sleep(2**attempt)
            ok(reply)
    print(f"tidied up: {len(tasks):,} guardian tasks completed, {len(campaign_ids)} closed")


def tidy_earlier_runs() -> int:
    with psycopg.connect(SCREENING_DATABASE) as connection:
        rows = connection.execute(
            "SELECT campaign_id::text FROM campaigns WHERE name LIKE 'benchmark %%'"
        ).fetchall()
    tidy_up([row[0] for row in rows], Staff())
    return 0


def start_gateway_over(grpc_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """This code base's gateway, with the local stack's settings, on a free port, calling the
    bare gRPC server as screening: the gateway's own cost without screening's."""
    port = free_port()
    env = dict(os.environ)
    for line in (ROOT / "infra/local/services.env").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key and not key.startswith("#") and value:
            env.setdefault(key.strip(), value.strip())
    env.update(
        GATEWAY_PORT=str(port),
        GATEWAY_SCREENING_TARGET=f"127.0.0.1:{grpc_port}",
        OTEL_SERVICE_NAME="gateway",
        GATEWAY_LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1.0).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the gateway over bare gRPC did not start")


def report(results: dict[str, list[Level]], memory: dict[str, float]) -> None:
    every = [level for group in results.values() for level in group]
    print("\ntarget         clients  requests   req/s    p50 ms   p99 ms  statuses")
    for level in every:
        statuses = " ".join(f"{code}×{n:,}" for code, n in sorted(level.statuses.items()))
        print(
            f"{level.target:<13} {level.concurrency:>8} {level.count:>9,} {level.rate:>7,.0f} "
            f"{level.percentile(50):>9.1f} {level.percentile(99):>8.1f}  {statuses}"
        )
    print("\nratios (to the bare baselines of the same run)")
    for gateway, http, grpc, own in zip(*results.values(), strict=True):
        p50 = gateway.percentile(50)
        print(
            f"  {gateway.concurrency:>3} clients: gateway throughput "
            f"{gateway.rate / http.rate:.2f} of bare-http, {gateway.rate / grpc.rate:.2f} of "
            f"bare-grpc; p50 {p50 / http.percentile(50):.1f}× bare-http, "
            f"{p50 / grpc.percentile(50):.1f}× bare-grpc; the gateway alone (over bare gRPC) "
            f"{own.rate / http.rate:.2f} of bare-http"
        )
    print("\nCPU ms per request (each process with its children)")
    for level in every:
        shares = ", ".join(f"{name} {ms:.2f}" for name, ms in level.cpu_ms.items())
        print(f"  {level.target:<13} {level.concurrency:>3} clients: {shares}")
    print("\npeak RSS (VmHWM)")
    for name, mib in memory.items():
        print(f"  {name:<15} {mib:8.1f} MiB")
    by_concurrency = {level.concurrency: level for level in results["gateway"]}
    print()
    if 128 in by_concurrency:
        high = by_concurrency[128]
        met = high.rate >= TARGET_RATE and high.percentile(99) < TARGET_P99_MS
        print(
            f"target ≥ {TARGET_RATE:,.0f}/s with p99 < {TARGET_P99_MS:.0f} ms at 128 clients: "
            f"{'met' if met else 'MISSED'} ({high.rate:,.0f}/s, p99 {high.percentile(99):.1f} ms)"
        )
    if 32 in by_concurrency:
        low = by_concurrency[32]
        met = low.rate >= AIM_RATE and low.percentile(99) < AIM_P99_MS
        print(
            f"aim ≥ {AIM_RATE:,.0f}/s with p99 < {AIM_P99_MS:.0f} ms at 32 clients: "
            f"{'met' if met else 'not met'} ({low.rate:,.0f}/s, p99 {low.percentile(99):.1f} ms)"
        )


def _ms(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)] * 1000


def report_paced(level: Level) -> None:
    """The paced phase: what was offered, what was achieved, latency from each submission's
    due time, how late the sends left, and whether it kept up."""
    achieved = level.completion_rate
    late_p99, late_max = _ms(level.lags, 99), _ms(level.lags, 100)
    statuses = " ".join(f"{code}×{n:,}" for code, n in sorted(level.statuses.items()))
    print(
        f"\npaced (open loop, latency from each submission's due time): {level.concurrency} "
        f"clients offered {level.offered:,.0f}/s, {level.count:,} submissions"
    )
    print(
        f"  achieved {achieved:,.0f}/s; latency p50 {level.percentile(50):.1f} ms, p99 "
        f"{level.percentile(99):.1f} ms, max {level.percentile(100):.1f} ms; sends late by p99 "
        f"{late_p99:.1f} ms, max {late_max:.1f} ms; {statuses}"
    )
    shares = ", ".join(f"{name} {ms:.2f}" for name, ms in level.cpu_ms.items())
    print(f"  CPU ms per submission: {shares}")
    kept_up = (
        achieved >= PACED_KEPT_UP * level.offered
        and late_max < PACED_MOST_LATE_MS
        and set(level.statuses) == {201}
    )
    print(
        f"  kept up: {'yes' if kept_up else 'NO'} (achieved ≥ {PACED_KEPT_UP:.0%} of the "
        f"offered rate, no send more than {PACED_MOST_LATE_MS:,.0f} ms behind its due time, "
        f"every submission accepted)"
    )
    if level.concurrency == 128 and level.offered >= TARGET_RATE:
        met = kept_up and level.percentile(99) < TARGET_P99_MS
        print(
            f"target ≥ {TARGET_RATE:,.0f}/s with p99 < {TARGET_P99_MS:.0f} ms at 128 clients, "
            f"paced: {'met' if met else 'MISSED'} ({achieved:,.0f}/s, p99 "
            f"{level.percentile(99):.1f} ms)"
        )


def check_stored_once(campaign_id: str, levels: list[Level]) -> int:
    accepted = [submission for level in levels for submission in level.accepted]
    with psycopg.connect(SCREENING_DATABASE) as connection:
        rows = connection.execute(
            "SELECT submission_id::text, student_id::text, instrument_id FROM results "
            "WHERE campaign_id = %s",
            (campaign_id,),
        ).fetchall()
    stored = Counter(row[0] for row in rows)
    per_student = Counter((row[1], row[2]) for row in rows)
    missing = set(accepted) - set(stored)
    unexpected = set(stored) - set(accepted)
    twice = [s for s, n in stored.items() if n > 1] + [k for k, n in per_student.items() if n > 1]
    print(
        f"stored exactly once: {len(accepted):,} accepted, {len(stored):,} stored in the "
        f"campaign, {len(missing)} missing, {len(unexpected)} not accepted yet stored, "
        f"{len(twice)} stored twice"
    )
    if missing or unexpected or twice or len(set(accepted)) != len(accepted):
        print("stored exactly once: FAILED")
        return 1
    print("stored exactly once: ok")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    for kind in ("bare-http", "bare-grpc"):
        server = sub.add_parser(kind)
        server.add_argument("--port", type=int, required=True)
    sub.add_parser("tidy", help="complete earlier runs' guardian tasks, close their campaigns")
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument(
        "--instruments", default="phq-a@1.0.0,gad-7@1.0.0,ces-dc@1.0.0", help="id@version,…"
    )
    parser.add_argument("--concurrency", default="32,128")
    parser.add_argument("--warmup", type=int, default=200, help="requests before the baselines")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=TARGET_RATE,
        help="submissions/s the paced phase offers (0: no paced phase)",
    )
    parser.add_argument("--paced-clients", type=int, default=128)
    parser.add_argument(
        "--paced-seconds",
        type=float,
        default=10.0,
        help="length of the paced phase (at most a third of the submissions)",
    )
    parser.add_argument(
        "--flagged", type=float, default=0.02, help="share of sittings with a critical answer"
    )
    args = parser.parse_args()
    if args.command == "bare-http":
        serve_bare_http(args.port)
        return 0
    if args.command == "bare-grpc":
        serve_bare_grpc(args.port)
        return 0
    if args.command == "tidy":
        return tidy_earlier_runs()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
