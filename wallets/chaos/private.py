"""The PostgreSQL cluster and Redis server a chaos run owns, and restarts.

Never the machine's shared services: each is made afresh in the run's own folder, on a
free port of 127.0.0.1, and thrown away at the end. PostgreSQL comes from the machine's
binaries (`pg_config --bindir`); it refuses to run as root, so as root its commands run as
the `postgres` OS user (`runuser`), in a data folder that user owns.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
import redis

from wallets.loadrun.server import free_port

POSTGRES_USER = "postgres"


def postgres_bindir() -> Path:
    found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
    if found.returncode == 0 and (Path(found.stdout.strip()) / "initdb").exists():
        return Path(found.stdout.strip())
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        raise RuntimeError("no PostgreSQL server binaries (initdb) on this machine")
    return versions[-1].parent


def _as_postgres(command: list[str]) -> list[str]:
    """Root cannot run PostgreSQL: run as the `postgres` OS user instead."""
    return ["runuser", "-u", POSTGRES_USER, "--", *command] if os.geteuid() == 0 else command


@dataclass
class PrivateServices:
    """Where a run's PostgreSQL and Redis live; saved as `services.json` in `home` so the
    process that runs the faults can restart what the launcher started."""

    home: Path
    pg_port: int
    redis_port: int
    bindir: Path
    redis_pid: int = 0
    database: str = "chaos"

    @property
    def pg_data(self) -> Path:
        return self.home / "pg"

    @property
    def database_url(self) -> str:
        return f"postgres://{POSTGRES_USER}@127.0.0.1:{self.pg_port}/{self.database}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @classmethod
    def plan(cls, home: Path) -> "PrivateServices":
        """Ports and a folder for a run's services, saved; nothing started yet."""
        services = cls(
            home=home, pg_port=free_port(), redis_port=free_port(), bindir=postgres_bindir()
        )
        services.save()
        return services

    def start(self) -> None:
        """A new cluster (with an empty database) and Redis, started."""
        self.home.chmod(0o755)  # the postgres user must reach its data folder
        self.pg_data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.pg_data, POSTGRES_USER, POSTGRES_USER)
        _run(
            _as_postgres(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.pg_data),
                    "-U",
                    POSTGRES_USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            )
        )
        with (self.pg_data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.pg_port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.pg_data}'\n"
                "max_connections = 200\n"
                # No power is cut here, only processes killed: the OS keeps what was written.
                "fsync = off\n"
                "shared_buffers = 64MB\n"
            )
        self.postgres_start()
        self.redis_start()
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.database}")

    def admin_url(self) -> str:
        return f"postgres://{POSTGRES_USER}@127.0.0.1:{self.pg_port}/postgres"

    def save(self) -> None:
        fields = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        (self.home / "services.json").write_text(json.dumps(fields))

    @classmethod
    def load(cls, home: Path) -> "PrivateServices":
        fields = json.loads((home / "services.json").read_text())
        fields["home"], fields["bindir"] = Path(fields["home"]), Path(fields["bindir"])
        return cls(**fields)

    def destroy(self) -> None:
        """Stop both (however they are) and remove the folder."""
        if (self.pg_data / "postmaster.pid").exists():
            self.postgres_stop(mode="immediate")
        self.redis_kill()
        shutil.rmtree(self.home, ignore_errors=True)

    # --- PostgreSQL ----------------------------------------------------------------------

    def _pg_ctl(self, *arguments: str, check: bool = True) -> None:
        command = [
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.pg_data),
            "-l",
            str(self.pg_data / "server.log"),
            *arguments,
        ]
        _run(_as_postgres(command), check=check)

    def postgres_start(self) -> None:
        self._pg_ctl("-w", "-t", "60", "start")

    def postgres_stop(self, *, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop", check=False)

    def postgres_crash_restart(self) -> None:
        """Immediate stop (no checkpoint, every backend killed: a crash), then start, which
        replays the WAL."""
        self.postgres_stop(mode="immediate")
        self.postgres_start()

    # --- Redis ---------------------------------------------------------------------------

    def redis_start(self) -> None:
        folder = self.home / "redis"
        folder.mkdir(exist_ok=True)
        process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
                "--logfile",
                str(folder / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.redis_pid = process.pid
        client = redis.Redis(port=self.redis_port, socket_timeout=1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    self.save()
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.redis_port} never answered")

    def redis_kill(self) -> None:
        """SIGKILL: with no persistence, every queued message and flag is gone."""
        if not self.redis_pid:
            return
        try:
            os.kill(self.redis_pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):  # reap it when it is our own child
            os.waitpid(self.redis_pid, 0)
        self.redis_pid = 0

    def redis_crash_restart(self) -> None:
        self.redis_kill()
        self.redis_start()


def _run(command: list[str], *, check: bool = True) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
