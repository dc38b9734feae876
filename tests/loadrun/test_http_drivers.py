"""The HTTP driver against the project's API served over real HTTP from this process, on
the test database (each request settles inline as it commits): it keeps each payment's
offer time, so the report times the payment from the offer rather than from when the
server took it.
"""

import io
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.core.wsgi import get_wsgi_application

from settlement.models import Transfer
from wallets import services
from wallets.loadrun.drivers import Driver, make_driver, staff_tokens
from wallets.loadrun.population import Planned, population_plan
from wallets.loadrun.runner import RUN_KINDS, RunOptions, latencies_from_offer, population_build
from wallets.loadrun.scenarios import SCENARIOS, plan, timeline
from wallets.models import WalletClass

RUN = "t"


@dataclass
class Noted:
    path: str
    token: str
    body: dict | None
    at: float  # time.time() as the server began reading the request


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


class ApiServer:
    """The project's WSGI application on a free port, one request at a time (the test
    database may be SQLite), noting each request's path, bearer token and JSON body."""

    def __init__(self) -> None:
        self.requests: list[Noted] = []
        application = get_wsgi_application()

        def noting(environ, start_response):
            at = time.time()
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
            self.requests.append(
                Noted(environ["PATH_INFO"], token, json.loads(body) if body else None, at)
            )
            return application(environ, start_response)

        self.httpd = make_server("127.0.0.1", 0, noting, handler_class=QuietHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def api_server(transactional_db, audit_key):
    server = ApiServer()
    yield server
    server.stop()


def population_with_tokens(*, people: int = 80, merchants: int = 8, seed: int = 1):
    services.reference_data_ensure()
    caps = dict(WalletClass.objects.values_list("number", "balance_cap"))
    population = population_plan(seed=seed, people=people, merchants=merchants, caps=caps)
    wallets = population_build(population, RUN, say=lambda line: None)
    wallets.tokens = staff_tokens(wallets.staff, RUN)
    return population, wallets


@dataclass
class Offered:
    driver: Driver
    planned: list[Planned]
    after: int  # the last transfer id before the run
    started_wall: float  # time.time() as the run started


def offer(server, population, wallets, *, transfers, rate, seed=1, **options) -> Offered:
    """Offer a steady run's payments through the driver."""
    options = RunOptions(
        scenario=SCENARIOS["steady"], transfers=transfers, rate=rate, via=server.url, **options
    )
    segments = timeline(options.scenario, transfers, rate)
    planned = list(plan(population, segments, seed))
    after = Transfer.objects.order_by("-id").values_list("id", flat=True).first() or 0
    driver = make_driver(options, wallets, RUN)
    started_wall, started = time.time(), time.perf_counter()
    driver.run(planned, segments, started)
    return Offered(driver, planned, after, started_wall)


def run_transfers(after: int) -> dict[str, Transfer]:
    """The run's transfers by the client's idempotency key (the ledger scopes it to the
    caller: `api:{user}:{key}`)."""
    transfers = Transfer.objects.filter(id__gt=after, kind__in=RUN_KINDS)
    return {t.idempotency_key.split(":", 2)[2]: t for t in transfers}


def test_a_client_behind_schedule_still_dates_each_payment_from_its_due_time(api_server):
    # One client, one payment per request, offered at 5,000/s: 100 payments are due within
    # 20 ms, but the one client sends them one after another, far behind schedule.
    population, wallets = population_with_tokens(people=40, merchants=4, seed=4)
    run = offer(api_server, population, wallets, transfers=100, rate=5_000, seed=4, clients=1)
    driver = run.driver
    assert Counter(r.path for r in api_server.requests) == {"/api/v1/transfers": 100}
    transfers = run_transfers(run.after)
    assert driver.accepted_ids == {t.pk for t in transfers.values()}
    assert len(transfers) == 100
    for key, transfer in transfers.items():
        due = int(key.rsplit(":", 1)[1]) / 5_000
        assert driver.offered_at[transfer.pk] - run.started_wall == pytest.approx(due, abs=0.005)
        assert driver.offered_at[transfer.pk] <= transfer.created_at.timestamp() + 0.001
    last = transfers[f"loadrun:{RUN}:99"]
    assert last.created_at.timestamp() - driver.offered_at[last.pk] > 0.1


def test_offered_to_settled_runs_from_the_offer_not_from_when_the_server_took_it():
    created = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)
    rows = [  # (id, kind, state, reject_code, created_at, decided_at)
        (1, "MERCHANT", "SETTLED", "", created, created + timedelta(milliseconds=40)),
        (2, "P2P", "REJECTED", "LIMIT_DAILY", created, created + timedelta(milliseconds=40)),
        (3, "P2P", "SETTLED", "", created, created + timedelta(milliseconds=40)),
        (4, "P2P", "RECEIVED", "", created, None),
    ]
    # Payment 1 waited 250 ms in its gateway and the server's queue before it was created;
    # payment 3 was offered just as the server took it; no offer time was noted for 2.
    offered_at = {1: created.timestamp() - 0.250, 3: created.timestamp(), 4: 0.0}
    settled, decided = latencies_from_offer(rows, offered_at)
    assert settled == pytest.approx([290.0, 40.0])
    assert decided == pytest.approx([290.0, 40.0])
    offered_at[2] = created.timestamp() - 0.010
    settled, decided = latencies_from_offer(rows, offered_at)
    assert settled == pytest.approx([290.0, 40.0])
    assert decided == pytest.approx([290.0, 50.0, 40.0])
