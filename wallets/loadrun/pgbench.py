"""PostgreSQL's own bank benchmark, run beside a load run so that the settlement rate can be
given as a ratio to pgbench measured in the same sitting on the same machine. No Django."""

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass

_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


@dataclass(frozen=True)
class PgbenchResult:
    tps: float  # transactions/s: each one pgbench's five-statement "bank" transaction
    clients: int
    seconds: int
    scale: int
    command: str

    def as_dict(self) -> dict:
        return asdict(self)


def database_beside(name: str) -> str:
    """pgbench's database beside a run's: `<name>_pgbench`, so runs on different databases
    of one server never initialise pgbench's tables under one another."""
    return f"{name[:55]}_pgbench"


class PgbenchUnavailable(RuntimeError):
    pass


def pgbench_run(
    *,
    host: str,
    port: int | str,
    user: str,
    password: str | None = None,
    database: str,
    seconds: int = 20,
    clients: int = 4,
    threads: int = 2,
    scale: int = 10,
) -> PgbenchResult:
    """`pgbench -i -s SCALE` then `pgbench -c CLIENTS -j THREADS -T SECONDS` on `database`
    (which must exist); returns the transactions/s pgbench reports."""
    if shutil.which("pgbench") is None:
        raise PgbenchUnavailable("pgbench is not installed (Debian: postgresql-contrib)")
    where = ["-h", host, "-p", str(port), "-U", user]
    env = {**os.environ, "PGPASSWORD": password} if password else None
    _pgbench([*where, "-i", "-q", "-s", str(scale), database], env)
    run = [*where, "-c", str(clients), "-j", str(threads), "-T", str(seconds), database]
    output = _pgbench(run, env)
    found = _TPS.search(output)
    if found is None:
        raise PgbenchUnavailable(f"no tps in pgbench's output: {output[-300:]!r}")
    return PgbenchResult(
        tps=float(found.group(1)),
        clients=clients,
        seconds=seconds,
        scale=scale,
        command="pgbench " + shlex.join(run[len(where) :]),
    )


def _pgbench(arguments: list[str], env: dict | None) -> str:
    done = subprocess.run(
        ["pgbench", *arguments], capture_output=True, text=True, check=False, env=env
    )
    if done.returncode != 0:
        raise PgbenchUnavailable(f"pgbench failed: {done.stderr.strip()[-300:]}")
    return done.stdout
