"""Xinyu local infrastructure without containers: PostgreSQL, Kafka and Keycloak as real
processes under supervisord. Run it through the wrapper `infra/local/stack`:

    infra/local/stack install        fetch/install what is missing (idempotent, fast when done)
    infra/local/stack up             install, start supervisord, wait healthy, provision
    infra/local/stack down           stop everything (data is kept)
    infra/local/stack reset          down, then delete infra/local/.data
    infra/local/stack status         supervisorctl status
    infra/local/stack ctl ARGS...    any supervisorctl command with the right config

Downloads only from Debian's apt, Maven Central (`mvn`, by coordinates) and PyPI. Everything
fetched or generated lives in the git-ignored infra/local/.downloads and infra/local/.data.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

LOCAL = Path(__file__).resolve().parent
ROOT = LOCAL.parent.parent
DATA = LOCAL / ".data"
DOWNLOADS = LOCAL / ".downloads"
LOGS = DATA / "logs"
RUN = DATA / "run"
SUPERVISORD_CONF = DATA / "supervisord.conf"
SOCKET = RUN / "supervisor.sock"
if len(str(SOCKET)) > 100:  # AF_UNIX paths are limited to ~107 bytes: a deep clone gets /tmp
    SOCKET = Path("/tmp") / f"xinyu-supervisor-{hashlib.sha256(bytes(ROOT)).hexdigest()[:12]}.sock"  # noqa: S108
PIDFILE = RUN / "supervisord.pid"
BIN = Path(sys.executable).parent

#: the infrastructure programs this script owns (others may add programs/*.ini files)
PROGRAMS = ("postgres", "kafka", "keycloak")
#: one database and role per service (the gateway has none), plus Keycloak's own
DATABASES = (
    "identity",
    "screening",
    "archives",
    "alerts",
    "referral",
    "training",
    "family",
    "keycloak",
)
PG_SUPERUSER = "postgres"
PG_SUPERUSER_PASSWORD = "dev-postgres"  # noqa: S105 - local development only
KAFKA_ADMIN = ("admin", "dev-kafka-admin")
KEYCLOAK_ADMIN = ("admin", "dev-keycloak-admin")


def load_versions() -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in (LOCAL / "versions.env").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


V = load_versions()
PG_HOST = V["PG_HOST"]
PG_PORT = int(V["PG_PORT"])
KAFKA_INTERNAL = f"127.0.0.1:{V['KAFKA_INTERNAL_PORT']}"
KEYCLOAK_URL = f"http://127.0.0.1:{V['KEYCLOAK_PORT']}"
KEYCLOAK_HEALTH = f"http://127.0.0.1:{V['KEYCLOAK_MANAGEMENT_PORT']}/health/ready"
KAFKA_LIBS = DOWNLOADS / f"kafka-{V['KAFKA_VERSION']}" / "libs"
KEYCLOAK_HOME = DOWNLOADS / f"keycloak-{V['KEYCLOAK_VERSION']}"


class StackError(Exception):
    pass


def say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def fail(message: str) -> NoReturn:
    raise StackError(message)


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kwargs)


@contextlib.contextmanager
def timed(what: str) -> Iterator[None]:
    start = time.monotonic()
    yield
    say(f"{what}: {time.monotonic() - start:.1f}s")


# ---------------------------------------------------------------------------------- install


class Apt:
    """apt-get, with `apt-get update` at most once per run."""

    updated = False

    @classmethod
    def install(cls, *packages: str) -> None:
        if os.geteuid() != 0:
            fail(f"need root to apt-get install {' '.join(packages)} (or install them yourself)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if not cls.updated:
            run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
            cls.updated = True
        say(f"apt-get install -y {' '.join(packages)}")
        run(["apt-get", "install", "-y", "-q", *packages], env=env, stdout=subprocess.DEVNULL)

    @classmethod
    def has_candidate(cls, package: str) -> bool:
        if not cls.updated and os.geteuid() == 0:
            run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
            cls.updated = True
        out = subprocess.run(
            ["apt-cache", "policy", package], text=True, capture_output=True, check=False
        ).stdout
        return "Candidate:" in out and "Candidate: (none)" not in out


def postgres_bindir() -> Path | None:
    dirs = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for d in reversed(dirs):
        if (d / "initdb").exists() and (d / "postgres").exists():
            return d
    return None


def java_version(java: Path) -> int:
    out = subprocess.run(
        [str(java), "-XshowSettings:properties", "-version"],
        text=True,
        capture_output=True,
        check=False,
    ).stderr
    for line in out.splitlines():
        key, _, value = line.strip().partition(" = ")
        if key == "java.specification.version":
            return int(value.split(".")[0])
    return 0


def find_java(at_least: int, preferred: str = "") -> Path | None:
    candidates = [Path(preferred)] if preferred else []
    candidates += sorted(Path("/usr/lib/jvm").glob("*"))
    for home in candidates:
        java = home / "bin" / "java"
        if java.exists() and java_version(java) >= at_least:
            return home
    return None


def ensure_postgres() -> None:
    if shutil.which("initdb") or postgres_bindir():
        return
    Apt.install("postgresql")
    if not postgres_bindir():
        fail("apt-get install postgresql did not bring /usr/lib/postgresql/<ver>/bin/initdb")


def ensure_java_and_maven() -> None:
    java = shutil.which("java")
    if not java or java_version(Path(java)) < 17:
        Apt.install("openjdk-17-jre-headless")
    if not shutil.which("mvn"):
        Apt.install("maven")
    if find_java(21, V["KEYCLOAK_JAVA_HOME"]) is None:
        # the cheap fallback: Debian 13 (and Ubuntu 24.04) package Java 21
        for package in ("openjdk-21-jre-headless", "openjdk-25-jre-headless"):
            if Apt.has_candidate(package):
                Apt.install(package)
                break
        if find_java(21, V["KEYCLOAK_JAVA_HOME"]) is None:
            fail("Keycloak needs Java 21+ and no JDK >= 21 is installed or installable via apt")


def mvn(*args: str, cwd: Path) -> None:
    cmd = ["mvn", "-B", "-ntp", "-Dstyle.color=never", *args]
    done = subprocess.run(cmd, cwd=str(cwd), text=True, capture_output=True, check=False)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], file=sys.stderr)
        fail(f"{' '.join(cmd)} exited {done.returncode}")


def ensure_kafka() -> None:
    stamp = KAFKA_LIBS / ".complete"
    want = f"{V['KAFKA_SCALA_VERSION']}-{V['KAFKA_VERSION']} log4j {V['KAFKA_LOG4J_VERSION']}"
    if stamp.exists() and stamp.read_text(encoding="utf-8").strip() == want:
        return
    say(f"fetching Kafka {want} and its runtime dependencies (Maven)")
    staging = KAFKA_LIBS.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    mvn(
        "-f",
        str(LOCAL / "kafka" / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
        f"-Dkafka.version={V['KAFKA_VERSION']}",
        f"-Dkafka.scala.version={V['KAFKA_SCALA_VERSION']}",
        f"-Dlog4j.version={V['KAFKA_LOG4J_VERSION']}",
        cwd=LOCAL / "kafka",
    )
    jar = staging / f"kafka_{V['KAFKA_SCALA_VERSION']}-{V['KAFKA_VERSION']}.jar"
    if not jar.exists() or not (staging / f"log4j-core-{V['KAFKA_LOG4J_VERSION']}.jar").exists():
        fail(f"Maven did not deliver {jar.name} and log4j-core into {staging}")
    shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
    staging.rename(KAFKA_LIBS)
    stamp.write_text(want + "\n", encoding="utf-8")


def ensure_keycloak() -> None:
    stamp = KEYCLOAK_HOME / ".unpacked"
    if not stamp.exists():
        version = V["KEYCLOAK_VERSION"]
        say(f"fetching Keycloak {version} (Maven) and unpacking it")
        DOWNLOADS.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=DOWNLOADS) as tmp:
            mvn(
                "dependency:copy",
                f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{version}:tar.gz",
                f"-DoutputDirectory={tmp}",
                cwd=Path(tmp),  # no pom.xml there: a project-less invocation
            )
            tarball = Path(tmp) / f"keycloak-quarkus-dist-{version}.tar.gz"
            shutil.rmtree(KEYCLOAK_HOME, ignore_errors=True)
            run(["tar", "-xzf", str(tarball), "-C", tmp])
            (Path(tmp) / f"keycloak-{version}").rename(KEYCLOAK_HOME)
        stamp.write_text(version + "\n", encoding="utf-8")
    # `kc.sh build` once with our build-time options (the script skips it when stamped)
    run([str(LOCAL / "bin" / "keycloak.sh"), "--build-only"], stdout=subprocess.DEVNULL)


def install() -> None:
    ensure_postgres()
    ensure_java_and_maven()
    ensure_kafka()
    ensure_keycloak()


# ------------------------------------------------------------------------------ supervisord


def write_supervisord_conf() -> None:
    for d in (LOGS, RUN):
        d.mkdir(parents=True, exist_ok=True)
    conf = f"""\
; generated by infra/local/stack: do not edit, edit infra/local/programs/*.ini instead
[unix_http_server]
file={SOCKET}
chmod=0700

[supervisord]
identifier=xinyu-local
logfile={LOGS / "supervisord.log"}
logfile_maxbytes=10MB
logfile_backups=2
pidfile={PIDFILE}
childlogdir={LOGS}
directory={ROOT}
minfds=8192

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{SOCKET}

[include]
files = {LOCAL / "programs"}/*.ini
"""
    if not SUPERVISORD_CONF.exists() or SUPERVISORD_CONF.read_text(encoding="utf-8") != conf:
        SUPERVISORD_CONF.write_text(conf, encoding="utf-8")


def rpc() -> Any:
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{SOCKET}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def supervisord_running() -> bool:
    if not SOCKET.exists():
        return False
    try:
        return bool(rpc().supervisor.getState()["statename"] == "RUNNING")
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
        return False


def start_supervisord() -> None:
    say("starting supervisord")
    env = {**os.environ, "XINYU_ROOT": str(ROOT)}
    run([str(BIN / "supervisord"), "-c", str(SUPERVISORD_CONF)], env=env, cwd=str(ROOT))
    wait_for("supervisord", supervisord_running, timeout=20)


def ensure_programs_started() -> None:
    server = rpc()
    # pick up programs/*.ini added since supervisord started (additions only, nothing
    # running is restarted; `stack ctl update` applies changes too)
    added, _changed, _removed = server.supervisor.reloadConfig()[0]
    for group in added:
        server.supervisor.addProcessGroup(group)
    for name in PROGRAMS:
        info = server.supervisor.getProcessInfo(name)
        if info["statename"] not in ("RUNNING", "STARTING"):
            say(f"starting {name} (was {info['statename']})")
            server.supervisor.startProcess(name, False)


def program_state(name: str) -> str:
    try:
        return str(rpc().supervisor.getProcessInfo(name)["statename"])
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
        return "UNKNOWN"


def log_tail(name: str, lines: int = 30) -> str:
    path = LOGS / f"{name}.log"
    if not path.exists():
        return f"(no {path})"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, program: str | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - any failure just means "not yet"
            pass
        if program and program_state(program) in ("FATAL", "EXITED", "STOPPED", "BACKOFF"):
            state = program_state(program)
            if state != "BACKOFF" or time.monotonic() > deadline:
                fail(f"{program} is {state}; last log lines:\n{log_tail(program)}")
        if time.monotonic() > deadline:
            tail = f"; last log lines:\n{log_tail(program)}" if program else ""
            fail(f"{what} not healthy after {timeout:.0f}s{tail}")
        time.sleep(0.5)


# ----------------------------------------------------------------------------- health checks


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def postgres_healthy() -> bool:
    import psycopg

    with psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_SUPERUSER,
        password=PG_SUPERUSER_PASSWORD,
        dbname="postgres",
        connect_timeout=2,
    ) as conn:
        return conn.execute("select 1").fetchone() == (1,)


def kafka_healthy() -> bool:
    if not port_open(int(V["KAFKA_INTERNAL_PORT"])):
        return False
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(
        {
            "bootstrap.servers": KAFKA_INTERNAL,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": KAFKA_ADMIN[0],
            "sasl.password": KAFKA_ADMIN[1],
            "log_level": 0,
        }
    )
    metadata = admin.list_topics(timeout=5)
    return bool(metadata.brokers)


def keycloak_healthy() -> bool:
    if not port_open(int(V["KEYCLOAK_MANAGEMENT_PORT"])):
        return False
    with urllib.request.urlopen(KEYCLOAK_HEALTH, timeout=3) as response:
        body = json.loads(response.read())
    return bool(response.status == 200 and body.get("status") == "UP")


# ------------------------------------------------------------------------------ provisioning


def provision_postgres() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_SUPERUSER,
        password=PG_SUPERUSER_PASSWORD,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        for name in DATABASES:
            role = sql.Identifier(name)
            password = sql.Literal(f"dev-db-{name}")
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
            verb = sql.SQL("ALTER" if exists else "CREATE")
            conn.execute(
                sql.SQL(
                    "{} ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}"
                ).format(verb, role, password)
            )
            if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(role, role))
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(role, role))
            # only the owner (and the superuser) may connect to a service's database
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(role))


def provision_kafka() -> None:
    run([sys.executable, str(ROOT / "infra" / "kafka" / "provision.py"), "--quiet"])


def provision_keycloak() -> None:
    run([sys.executable, str(ROOT / "infra" / "keycloak" / "provision.py"), "--quiet"])


# ---------------------------------------------------------------------------------- commands


def up() -> None:
    start = time.monotonic()
    with timed("install"):
        install()
    write_supervisord_conf()
    if supervisord_running():
        ensure_programs_started()
    else:
        start_supervisord()
    with timed("postgres healthy + provisioned"):
        wait_for("postgres", postgres_healthy, timeout=90, program="postgres")
        provision_postgres()
    with timed("kafka healthy + provisioned"):
        wait_for("kafka", kafka_healthy, timeout=120, program="kafka")
        provision_kafka()
    with timed("keycloak healthy + provisioned"):
        wait_for("keycloak", keycloak_healthy, timeout=300, program="keycloak")
        provision_keycloak()
    say(f"up in {time.monotonic() - start:.1f}s")
    print_where()


def print_where() -> None:
    kafka_ext = f"127.0.0.1:{V['KAFKA_EXTERNAL_PORT']}"
    kafka_ctl = f"127.0.0.1:{V['KAFKA_CONTROLLER_PORT']}"
    rows = [
        ("PostgreSQL", f"{PG_HOST}:{PG_PORT}", "postgres/dev-postgres, <svc>/dev-db-<svc>"),
        ("Kafka INTERNAL", KAFKA_INTERNAL, "SCRAM-SHA-512 <svc>/dev-kafka-<svc>, admin"),
        ("Kafka EXTERNAL", kafka_ext, "SCRAM-SHA-512 unit-*/dev-kafka-unit-*"),
        ("Kafka CONTROLLER", kafka_ctl, "KRaft quorum only"),
        ("Keycloak", KEYCLOAK_URL, "admin console: admin/dev-keycloak-admin"),
        ("  issuer", f"{KEYCLOAK_URL}/realms/xinyu", "demo users: infra/local/README.md"),
        ("  health", KEYCLOAK_HEALTH, ""),
    ]
    width = max(len(r[0]) for r in rows)
    addr = max(len(r[1]) for r in rows)
    print()
    for name, where, who in rows:
        print(f"  {name:<{width}}  {where:<{addr}}  {who}")
    print(f"\n  logs: {LOGS}/   control: infra/local/stack status | ctl ... | down | reset\n")


def down() -> None:
    if not supervisord_running():
        say("not running")
        return
    pid = int(PIDFILE.read_text(encoding="utf-8").strip()) if PIDFILE.exists() else None
    say("stopping supervisord and its programs")
    rpc().supervisor.shutdown()
    deadline = time.monotonic() + 120
    while pid is not None and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.3)
    else:
        if pid is not None:
            fail(f"supervisord (pid {pid}) still running after 120s")
    say("stopped (data kept in infra/local/.data)")


def reset() -> None:
    down()
    if DATA.exists():
        shutil.rmtree(DATA)
    say(f"deleted {DATA}")


def ctl(args: list[str]) -> int:
    if not SUPERVISORD_CONF.exists():
        write_supervisord_conf()
    env = {**os.environ, "XINYU_ROOT": str(ROOT)}
    cmd = [str(BIN / "supervisorctl"), "-c", str(SUPERVISORD_CONF), *args]
    return subprocess.run(cmd, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra/local/stack", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install/fetch what is missing (idempotent)")
    sub.add_parser("up", help="install, start, wait until healthy, provision")
    sub.add_parser("down", help="stop everything, keep data")
    sub.add_parser("reset", help="down, then delete infra/local/.data")
    sub.add_parser("status", help="supervisorctl status")
    sub.add_parser("where", help="print what runs where")
    p_ctl = sub.add_parser("ctl", help="pass the arguments to supervisorctl")
    p_ctl.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    os.environ["XINYU_ROOT"] = str(ROOT)
    try:
        if ns.command == "install":
            with timed("install"):
                install()
        elif ns.command == "up":
            up()
        elif ns.command == "down":
            down()
        elif ns.command == "reset":
            reset()
        elif ns.command == "status":
            if not supervisord_running():
                say("not running (infra/local/stack up)")
                return 3
            return ctl(["status"])
        elif ns.command == "where":
            print_where()
        elif ns.command == "ctl":
            return ctl(list(ns.args))
    except StackError as exc:
        print(f"[stack] ERROR: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(
            f"[stack] ERROR: {' '.join(map(str, exc.cmd))} exited {exc.returncode}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
