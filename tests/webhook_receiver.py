"""A merchant's webhook server for tests: a real HTTP server on a local port that answers
as it is told (accept, fail with 500, or answer too late) and keeps what it received."""

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK, FAIL, SLOW = "ok", "fail", "slow"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    answered: str

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """`answers` are used one per request, then `then` for every request after them."""

    def __init__(self, *answers: str, then: str = OK, slow_seconds: float = 2.0) -> None:
        self.answers = deque(answers)
        self.then = then
        self.slow_seconds = slow_seconds
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    answer = receiver.answers.popleft() if receiver.answers else receiver.then
                    receiver.received.append(
                        Received(dict(self.headers), body, time.monotonic(), answer)
                    )
                if answer == SLOW:
                    time.sleep(receiver.slow_seconds)
                status = 500 if answer == FAIL else 200
                reply = b'{"received":true}' if status == 200 else b"boom"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/ecny"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)
