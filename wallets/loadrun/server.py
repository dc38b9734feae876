"""A gunicorn process serving the project: what `loadrun --via`, `chaos` and the HTTP tests
pay through. It gets the environment it is given (the database and broker to use)."""

import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GunicornServer:
    """`gunicorn ewallet.wsgi` on a free port of 127.0.0.1, started at once; `url` once it
    answers /api/v1/health."""

    def __init__(self, env: dict, log: Path, *, workers: int = 2, timeout: float = 60) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "gunicorn", "ewallet.wsgi", "--workers", str(workers)]
        self.process = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
            try:
                with urlopen(f"{self.url}/api/v1/health", timeout=5):
                    return
            except (URLError, OSError):  # not listening yet, or still starting
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn never answered:\n{log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
