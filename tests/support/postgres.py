"""Memory database fixtures: a throwaway PostgreSQL cluster, and a fresh database per backend.

``memory_url`` runs each test that asks for it against SQLite and PostgreSQL. PostgreSQL
comes from the server binaries (``/usr/lib/postgresql/*/bin`` or ``PATH``); without them the
PostgreSQL variants skip, unless ``SWITCHBOARD_REQUIRE_POSTGRES=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest

from tests.support.server import free_port

TEST_DATABASE = "switchboard_test"


def _postgres_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``, newest PostgreSQL first."""

    def version(pg_ctl: str) -> tuple[int, ...]:
        name = Path(pg_ctl).parent.parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    for pg_ctl in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version, reverse=True):
        if (Path(pg_ctl).parent / "initdb").exists():
            return Path(pg_ctl).parent
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("SWITCHBOARD_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (SWITCHBOARD_REQUIRE_POSTGRES=1): {reason}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


class PostgresCluster:
    """A throwaway PostgreSQL server: ``initdb`` + ``pg_ctl`` in a temporary directory.

    Run as root, every tool runs as the ``postgres`` user (through ``runuser``). ``start()``
    creates the cluster (trust authentication, ``fsync=off``: for tests and benchmarks only)
    and starts the server on a free loopback port; ``url(database)`` names a database on it;
    ``stop()`` stops it and deletes the directory. ``bindir`` holds ``initdb`` and ``pg_ctl``.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        # Not under pytest's tmp dir: its parents are private to root.
        self.root = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self.sockets.mkdir()
        if self.as_root:
            for path in (self.root, self.sockets):
                shutil.chown(path, "postgres", "postgres")
        self.port = 0

    def run(self, tool: str, *args: str, timeout: float = 120) -> None:
        command = [str(self.bindir / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        with open(self.root / f"{tool}.out", "ab") as out:  # pg_ctl's server keeps no pipe
            result = subprocess.run(
                command,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}):\n{self.output(tool)}")

    def output(self, tool: str) -> str:
        texts = []
        for path in (self.root / f"{tool}.out", self.log):
            with contextlib.suppress(OSError):
                texts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(texts)

    def start(self) -> None:
        self.run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        for attempt in range(3):
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            try:
                self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                         "-w", "-t", "60", "start")  # fmt: skip
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for the session (trust auth), on a cluster of its own."""
    bindir = _postgres_bin()
    if bindir is None:
        _unavailable("no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH")
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        _unavailable("running as root needs `runuser` and a `postgres` system user")
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEST_DATABASE}")
        yield cluster.url(TEST_DATABASE)
    finally:
        cluster.stop()


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _server_url(database_url: str) -> str:
    """The maintenance database of the server ``database_url`` is on."""
    return database_url.rsplit("/", 1)[0] + "/postgres"


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def memory_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty memory database per test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/memory.db"
        return
    with fresh_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@contextlib.contextmanager
def fresh_database(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the server ``postgres_url`` is on; dropped afterwards."""
    server = _server_url(postgres_url)
    database = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    try:
        yield server.rsplit("/", 1)[0] + f"/{database}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
