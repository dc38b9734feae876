"""The HTTP drivers against the project's API served over real HTTP from this process, on
the test database (each request settles inline as it commits).

Worked examples: a gateway gathers each operator's payments into /transfers/batch
requests of at most N, and sends one that does not fill once its oldest payment has
waited the linger; a refused item counts under its problem's code while the rest of its
batch is accepted; every accepted id is collected; and each payment's offer time is
kept, so the report times it from the offer rather than from when the server took it.
"""

import io
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.wsgi import get_wsgi_application

from settlement.models import Transfer
from wallets.auth import token_revoke
from wallets.loadrun.drivers import Driver, make_driver, staff_tokens
from wallets.loadrun.population import Planned
from wallets.loadrun.report_data import RUN_KINDS, latencies_from_offer
from wallets.loadrun.runner import RunOptions
from wallets.loadrun.scenarios import SCENARIOS, plan, timeline
from wallets.loadrun.setup import (
    catalogue_operators,
    institutions_ensure,
    population_build,
    population_with_live_caps,
)
from wallets.models import ApiToken, Operator

BATCH_PATH = "/api/v1/transfers/batch"
RUN = "t"


@dataclass
class Noted:
    path: str
    token: str
    body: dict | None
    at: float  # time.time() as the server began reading the request


class RoomyServer(WSGIServer):
    # Many clients connect at once; the default backlog of 5 drops some under load.
    request_queue_size = 128


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

        self.httpd = make_server(
            "127.0.0.1", 0, noting, server_class=RoomyServer, handler_class=QuietHandler
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def batches(self) -> list[Noted]:
        return [r for r in self.requests if r.path == BATCH_PATH]

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
    institutions = institutions_ensure(
        prefix="t", operators=catalogue_operators(reserve_yuan_per_share=1_000_000_000)
    )
    population = population_with_live_caps(seed=seed, people=people, merchants=merchants)
    wallets = population_build(population, institutions=institutions, run=RUN)
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


def test_a_gateway_sends_each_operators_payments_together_in_batches_of_at_most_n(api_server):
    population, wallets = population_with_tokens()
    run = offer(
        api_server, population, wallets, transfers=400, rate=2_000, clients=2,
        http_batch=10, linger_ms=50,
    )  # fmt: skip
    driver, planned = run.driver, run.planned

    assert [r.path for r in api_server.requests if r.path != BATCH_PATH] == []
    batches = api_server.batches()
    operator_of_token = {token: operator for operator, token in wallets.tokens.items()}
    operator_of_wallet = {number: operator for number, _, operator in wallets.people}
    for batch in batches:
        payers = [item["payer"] for item in batch.body["transfers"]]
        assert 1 <= len(payers) <= 10
        assert {operator_of_wallet[p] for p in payers} == {operator_of_token[batch.token]}
    sizes = sorted(len(b.body["transfers"]) for b in batches)
    assert sizes[-1] == 10  # the busy operators fill their batches before the linger ends
    assert sorted(driver.batch_sizes) == sizes
    offered_keys = [item["idempotency_key"] for b in batches for item in b.body["transfers"]]
    assert sorted(offered_keys) == sorted(f"loadrun:{RUN}:{p.index}" for p in planned)

    # Every payment accepted, each collected once, each offered before the server took it.
    transfers = run_transfers(run.after)
    assert driver.refused == Counter()
    assert driver.accepted == len(driver.accepted_ids) == len(planned) == len(transfers)
    assert driver.accepted_ids == {t.pk for t in transfers.values()}
    assert driver.offered_at.keys() == driver.accepted_ids
    for transfer in transfers.values():
        assert driver.offered_at[transfer.pk] <= transfer.created_at.timestamp() + 0.001


def test_refusals_in_a_batch_count_by_code_and_every_accepted_id_is_collected(api_server):
    population, wallets = population_with_tokens(seed=2)
    segments = timeline(SCENARIOS["steady"], 500, 2_500)
    planned = list(plan(population, segments, 2))
    # The most popular shop's wallet was never opened: each payment to it is refused on
    # its own (NOT_FOUND) and the rest of its batch goes through.
    shop = Counter(p.payee for p in planned if p.kind == "merchant").most_common(1)[0][0]
    wallets.merchants[shop] = wallets.merchants[shop]._replace(number="9" * 16)
    # WeBank's gateway token is revoked: all of WeBank's batches are refused at the door.
    webank = Operator.objects.get(code="WEBANK").pk
    token = ApiToken.objects.get(user=wallets.staff[webank].user)
    token_revoke(actor=wallets.staff[webank], token_id=token.pk)

    run = offer(
        api_server, population, wallets, transfers=500, rate=2_500, seed=2, clients=3,
        http_batch=20, linger_ms=20,
    )  # fmt: skip
    driver = run.driver

    assert run.planned == planned
    payer_operator = {p.index: wallets.people[p.payer][2] for p in planned}
    from_webank = sum(1 for p in planned if payer_operator[p.index] == webank)
    to_the_missing_shop = sum(
        1
        for p in planned
        if p.kind == "merchant" and p.payee == shop and payer_operator[p.index] != webank
    )
    assert from_webank and to_the_missing_shop
    assert driver.refused == {"NOT_AUTHENTICATED": from_webank, "NOT_FOUND": to_the_missing_shop}
    transfers = run_transfers(run.after)
    assert driver.accepted_ids == {t.pk for t in transfers.values()}
    assert driver.accepted == len(planned) - from_webank - to_the_missing_shop
    assert driver.offered_at.keys() == driver.accepted_ids
    # Batches that mixed refused and accepted items were answered item by item.
    assert any(
        len(b.body["transfers"]) > 1
        and any(i["payee"] == "9" * 16 for i in b.body["transfers"])
        and b.token != wallets.tokens[webank]
        for b in api_server.batches()
    )


def test_a_batch_that_does_not_fill_goes_once_its_oldest_payment_has_lingered(api_server):
    population, wallets = population_with_tokens(seed=3)
    run = offer(
        api_server, population, wallets, transfers=60, rate=100, seed=3, clients=2,
        http_batch=50, linger_ms=60,
    )  # fmt: skip

    batches = api_server.batches()
    assert all(len(b.body["transfers"]) < 50 for b in batches)
    # Held until the end, there would be at most one batch per operator.
    assert len(batches) > Operator.objects.count()
    offered_at = {key: run.driver.offered_at[t.pk] for key, t in run_transfers(run.after).items()}
    assert len(offered_at) == len(run.planned)
    for batch in batches:
        oldest = min(offered_at[item["idempotency_key"]] for item in batch.body["transfers"])
        assert batch.at - oldest >= 0.060 - 0.002, batch.body


def test_batches_fill_from_every_client_not_one_client_each(api_server):
    # 4,000/s over 8 operators, lingering 40 ms: about 20 payments an operator per window.
    # Gathered per client thread (16 of them), a batch would hold one or two.
    population, wallets = population_with_tokens(seed=5)
    run = offer(
        api_server, population, wallets, transfers=800, rate=4_000, seed=5, clients=16,
        http_batch=100, linger_ms=40,
    )  # fmt: skip
    sizes = run.driver.batch_sizes
    assert sum(sizes) == len(run.planned) - sum(1 for p in run.planned if p.kind == "load")
    assert sum(sizes) / len(sizes) >= 10, sizes
    assert run.driver.accepted == len(run.planned), run.driver.refused


def test_a_client_behind_schedule_still_dates_each_payment_from_its_due_time(api_server):
    # One client, one payment per request, offered at 5,000/s: 100 payments are due within
    # 20 ms, but the one client sends them one after another, far behind schedule.
    population, wallets = population_with_tokens(people=40, merchants=4, seed=4)
    run = offer(api_server, population, wallets, transfers=100, rate=5_000, seed=4, clients=1)
    driver = run.driver
    assert Counter(r.path for r in api_server.requests) == {"/api/v1/transfers": 100}
    assert driver.batch_sizes == []
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


def test_a_gateway_load_run_reports_latency_from_the_offer(api_server, tmp_path):
    out = io.StringIO()
    call_command(
        "loadrun", out=str(tmp_path), name="gateway", no_progress=True, stdout=out,
        transfers=300, rate=600, seed=5, people=60, merchants=6, via=api_server.url,
        clients=2, http_batch=20, linger_ms=20, settlement="inline",
    )  # fmt: skip
    report = json.loads((tmp_path / "gateway" / "report.json").read_text())
    assert all(check["ok"] for check in report["checks"].values()), report["checks"]
    assert report["options"]["http_batch"] == 20 and report["options"]["linger_ms"] == 20
    batches = api_server.batches()
    assert report["http_statuses"] == {"202": len(batches)}
    assert report["http_batches"]["requests"] == len(batches)
    assert report["http_batches"]["max_payments"] <= 20
    latency = report["latency_ms"]
    assert latency["offered_to_settled"]["count"] == report["transfers"]["settled"]
    assert latency["offered_to_decided"]["count"] == 300
    # The offer is earlier than the server's created_at, by at least the linger for some.
    assert latency["offered_to_decided"]["p50"] >= latency["submit_to_decided"]["p50"]
    assert latency["offered_to_decided"]["max"] >= latency["submit_to_decided"]["max"]
    assert latency["offered_to_decided"]["max"] >= 20
    text = out.getvalue()
    assert "in batches of up to 20 (linger 20 ms)" in text
    assert f"offered->settled ms p50 {latency['offered_to_settled']['p50']}" in text
    assert "offered-&gt;settled p99 ms" in (tmp_path / "gateway" / "report.html").read_text()


def test_a_gateway_needs_a_url_and_a_batch_the_endpoint_takes(db, tmp_path):
    with pytest.raises(CommandError, match="needs --via URL"):
        call_command("loadrun", out=str(tmp_path), transfers=10, http_batch=10)
    with pytest.raises(CommandError, match="1 to 1000"):
        call_command("loadrun", via="http://127.0.0.1:9", transfers=10, http_batch=1001)
    with pytest.raises(CommandError, match="never waits"):
        call_command("loadrun", via="http://127.0.0.1:9", http_batch=10, wait_ms=100)
