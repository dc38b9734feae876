"""Webhooks over HTTP, as worked examples: the Luohu Fresh Market's till registers a URL and
is shown its secret once; Carol pays 36.80 and the market is told; a delivery that could
not get through is logged attempt by attempt and sent again. Only the market's own staff
act on its webhooks; ICBC, its acquirer, and the central bank only look; anyone else finds
nothing there."""

import http.server
import itertools
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.test_acquiring_api import as_token, ask, pay, post, problem, refund
from wallets import services, webhook_signing
from wallets.models import DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEvent

# Nothing listens on the discard port: every attempt is refused at once, and logged.
UNREACHABLE = "http://127.0.0.1:9/ecny/events"


@pytest.fixture
def shop(api):
    return api.world.merchant("Luohu Fresh Market")


@pytest.fixture
def till(shop):
    return as_token(shop.token)


@pytest.fixture
def carol(api):
    wallet = api.world.wallet("Carol", klass=2, load=300)
    secret, _ = services.holder_device_enrol(
        actor=api.world.staff_of["ICBC"], holder=wallet.holder, name="phone"
    )
    return wallet, as_token(secret)


@pytest.fixture
def receiver():
    """A merchant's server on this machine, answering 204 and keeping what it was sent."""
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ecny/events", received
    server.shutdown()
    server.server_close()


_keys = itertools.count()


def new_key() -> str:
    return f"w-{next(_keys)}"


def register(client, url: str = UNREACHABLE, key: str | None = None):
    return post(client, "/api/v1/webhooks", {"url": url}, key or new_key())


def registered(client, url: str = UNREACHABLE) -> dict:
    answer = register(client, url)
    assert answer.status_code == 201, answer.content
    return answer.json()


def paid(till, phone, wallet, amount: str = "36.80", **fields) -> int:
    request = ask(till, amount, **fields)
    answer = pay(phone, request["payload"], wallet)
    assert answer.json()["state"] == "SETTLED", answer.content
    return answer.json()["id"]


# ---------------------------------------------------------------- endpoints


def test_the_till_registers_a_url_and_is_shown_its_secret_once(api, shop, till):
    made = register(till, "https://127.0.0.1:8443/ecny/events", key="hook-1")
    assert made.status_code == 201, made.content
    body = made.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body == {
        "id": endpoint.pk,
        "merchant": shop.merchant.code,
        "url": "https://127.0.0.1:8443/ecny/events",
        "active": True,
        "previous_secret_until": None,
        "created_at": body["created_at"],
        "secret": endpoint.secret,
    }
    assert body["secret"].startswith("whsec_")
    assert made["Location"] == f"/api/v1/webhooks/{endpoint.pk}"
    # A retry with the same key registers nothing more and answers the same bytes.
    again = register(till, "https://127.0.0.1:8443/ecny/events", key="hook-1")
    assert again.content == made.content and again["Idempotent-Replayed"] == "true"
    assert WebhookEndpoint.objects.count() == 1
    assert problem(post(till, "/api/v1/webhooks", {"url": UNREACHABLE})) == (
        400,
        "IDEMPOTENCY_KEY_MISSING",
    )

    # Never again by GET: not the endpoint, not the list, to no one.
    shown = {k: v for k, v in body.items() if k != "secret"}
    assert till.get(made["Location"]).json() == shown
    for who in (till, api.client("icbc_staff"), api.client("auditor")):
        one, listed = who.get(made["Location"]), who.get("/api/v1/webhooks")
        assert one.json() == shown and listed.json()["results"] == [shown]
        assert body["secret"] not in one.content.decode() + listed.content.decode()
    # Another operator, a holder: nothing there.
    for who in ("ccb_staff", "alice"):
        assert api.client(who).get("/api/v1/webhooks").json()["results"] == []
        assert problem(api.client(who).get(made["Location"])) == (404, "NOT_FOUND")


def test_targets_that_are_not_http_or_could_reach_the_cloud_are_refused(api, shop, till):
    for url in (
        "ftp://shop.example.com/events",
        "http://169.254.169.254/latest/meta-data/",  # a cloud metadata service
        "http://[fe80::1]/events",  # IPv6 link-local
        "http://user:pass@127.0.0.1/events",
        "events",
    ):
        refused = register(till, url)
        assert problem(refused) == (400, "WEBHOOK_TARGET_REFUSED"), url
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/url"], url
    for body, code in (
        ({"url": ""}, "INVALID_INPUT"),
        ({"url": "http://127.0.0.1/" + "a" * 500}, "INVALID_INPUT"),
        ({"url": 42}, "INVALID_INPUT"),
        ({"url": UNREACHABLE, "secret": "mine"}, "UNKNOWN_FIELD"),
    ):
        answer = post(till, "/api/v1/webhooks", body, new_key())
        assert problem(answer) == (400, code), body
    assert WebhookEndpoint.objects.count() == 0


def test_a_url_our_client_cannot_send_to_is_refused_and_one_kept_from_before_is_logged(
    api, shop, till, carol
):
    wallet, phone = carol
    # Both resolve, and the HTTP client would refuse both on every attempt: a control
    # character, and a host IDNA 2008 forbids (a snowman, xn--n3h).
    for url in ("http://127.0.0.1:9/\x01", "http://xn--n3h.net/"):
        refused = register(till, url)
        assert problem(refused) == (400, "WEBHOOK_TARGET_REFUSED"), url
        assert "not a URL we can send to" in refused.json()["detail"]
    assert WebhookEndpoint.objects.count() == 0
    # One stored before registration refused them: each attempt is logged and retried
    # like any failure, and the payment is not held up by it.
    WebhookEndpoint.objects.create(merchant=shop.merchant, url="http://127.0.0.1:9/\x01")
    paid(till, phone, wallet, "1.00")
    (row,) = till.get("/api/v1/webhook-deliveries").json()["results"]
    one = till.get(f"/api/v1/webhook-deliveries/{row['id']}").json()
    assert (one["state"], one["attempts"]) == ("PENDING", 1)
    (attempt,) = one["attempt_log"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("target refused: ") and "can send to" in attempt["error"]


def test_a_sixth_live_endpoint_waits_until_one_is_switched_off(api, shop, till):
    first, *_ = [registered(till, f"http://127.0.0.1:9/hook/{n}") for n in range(5)]
    assert problem(register(till)) == (409, "WEBHOOK_LIMIT")

    path = f"/api/v1/webhooks/{first['id']}"
    for _ in range(2):  # switching off twice is harmless
        off = till.delete(path)
        assert (off.status_code, off.json()["active"]) == (200, False)
        assert "secret" not in off.json()
    assert register(till).status_code == 201
    assert problem(register(till)) == (409, "WEBHOOK_LIMIT")
    # The switched-off one is still there, and listed.
    assert till.get(path).json()["active"] is False
    listed = till.get("/api/v1/webhooks?page_size=3").json()
    assert len(listed["results"]) == 3 and listed["next"]
    assert len(till.get("/api/v1/webhooks").json()["results"]) == 6


def test_rotating_a_secret_shows_the_new_one_and_keeps_the_old_one_signing_a_while(
    api, shop, till, settings
):
    settings.EWALLET_WEBHOOK_ROTATION_GRACE_SECONDS = 3600
    made = registered(till)
    path = f"/api/v1/webhooks/{made['id']}/rotate-secret"
    before = timezone.now()
    rotated = post(till, path, key="rotate-1")
    assert rotated.status_code == 200, rotated.content
    body = rotated.json()
    endpoint = WebhookEndpoint.objects.get(pk=made["id"])
    assert body["secret"] == endpoint.secret != made["secret"]
    assert endpoint.previous_secret == made["secret"]
    until = endpoint.previous_secret_until
    assert before + timedelta(seconds=3600) <= until <= timezone.now() + timedelta(seconds=3600)
    assert body["previous_secret_until"] == until.isoformat().replace("+00:00", "Z")
    # A retried rotation is the same rotation: the secret the receiver still uses keeps
    # its grace.
    again = post(till, path, key="rotate-1")
    assert again.content == rotated.content and again["Idempotent-Replayed"] == "true"
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.previous_secret) == (body["secret"], made["secret"])
    assert problem(post(till, path)) == (400, "IDEMPOTENCY_KEY_MISSING")

    shown = till.get(f"/api/v1/webhooks/{made['id']}").json()
    assert shown["previous_secret_until"] == body["previous_secret_until"]
    assert "secret" not in shown

    assert till.delete(f"/api/v1/webhooks/{made['id']}").status_code == 200
    assert problem(post(till, path, key="rotate-2")) == (409, "INVALID_STATE")
    endpoint.refresh_from_db()
    assert endpoint.secret == body["secret"]


def test_only_the_merchants_own_staff_act_on_its_webhooks(api, shop, till):
    made = registered(till)
    secret = made["secret"]
    path = f"/api/v1/webhooks/{made['id']}"
    # Its acquirer and the central bank see it, and may not act.
    for who in ("icbc_staff", "auditor", "approver"):
        client = api.client(who)
        assert problem(register(client)) == (403, "PERMISSION_DENIED"), who
        assert problem(post(client, f"{path}/rotate-secret", key=f"r-{who}")) == (
            403,
            "PERMISSION_DENIED",
        ), who
        assert problem(client.delete(path)) == (403, "PERMISSION_DENIED"), who
    # A holder registers nothing; another merchant's staff and another operator's find
    # nothing: byte for byte the answer for an endpoint that does not exist.
    assert problem(register(api.client("alice"))) == (403, "PERMISSION_DENIED")
    books = as_token(api.world.merchant("Futian Books", operator="CCB").token)
    for client in (books, api.client("ccb_staff")):
        for method, suffix in (("get", ""), ("delete", ""), ("post", "/rotate-secret")):
            seen = getattr(client, method)(path + suffix, HTTP_IDEMPOTENCY_KEY=new_key())
            absent = getattr(client, method)(
                f"/api/v1/webhooks/999999999{suffix}", HTTP_IDEMPOTENCY_KEY=new_key()
            )
            assert problem(seen) == (404, "NOT_FOUND"), (method, suffix)
            assert seen.content == absent.content, (method, suffix)
    endpoint = WebhookEndpoint.objects.get(pk=made["id"])
    assert (endpoint.active, endpoint.secret) == (True, secret)
    assert WebhookEndpoint.objects.count() == 1
    # The other merchant's staff register for their own merchant, and see only that.
    theirs = registered(books)
    assert [e["id"] for e in books.get("/api/v1/webhooks").json()["results"]] == [theirs["id"]]
    assert [e["id"] for e in till.get("/api/v1/webhooks").json()["results"]] == [made["id"]]


# ---------------------------------------------------------------- deliveries


def test_carol_pays_and_the_market_is_told_attempt_by_attempt(api, shop, till, carol):
    wallet, phone = carol
    hook = registered(till)
    transfer = paid(till, phone, wallet, "36.80", order_reference="A-1001")

    event = WebhookEvent.objects.get(transfer_id=transfer)
    listed = till.get("/api/v1/webhook-deliveries").json()["results"]
    assert len(listed) == 1
    row = listed[0]
    delivery = WebhookDelivery.objects.get(pk=row["id"])
    # Settlement's commit rang for a drain, and the first attempt found no one listening.
    assert (row["endpoint"], row["url"], row["merchant"]) == (
        hook["id"],
        UNREACHABLE,
        shop.merchant.code,
    )
    assert (row["state"], row["attempts"], row["delivered_at"]) == ("PENDING", 1, None)
    assert row["next_attempt_at"] is not None
    assert row["event"] == {
        "id": event.pk,
        "type": "payment.settled",
        "created_at": row["event"]["created_at"],
        "data": {
            "transfer": transfer,
            "merchant": shop.merchant.code,
            "payment_request": event.payload["payment_request"],
            "order_reference": "A-1001",
            "amount_fen": 3_680,
            "state": "SETTLED",
            "reject_code": "",
            "decided_at": event.payload["decided_at"],
        },
    }
    assert "attempt_log" not in row

    # Due again now: one more attempt, refused like the first, logged beside it.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert services.delivery_attempt(delivery.pk).attempted
    detail = till.get(f"/api/v1/webhook-deliveries/{delivery.pk}")
    assert detail.status_code == 200, detail.content
    one = detail.json()
    changed = ("attempts", "next_attempt_at", "attempt_log")
    assert {k: v for k, v in one.items() if k not in changed} == {
        k: v for k, v in row.items() if k not in changed
    }
    assert (one["state"], one["attempts"], len(one["attempt_log"])) == ("PENDING", 2, 2)
    for attempt in one["attempt_log"]:
        assert set(attempt) == {"at", "status_code", "error", "duration_ms"}
        assert attempt["status_code"] is None and attempt["error"].startswith("ConnectError")
        assert isinstance(attempt["duration_ms"], int)
    assert one["attempt_log"][0]["at"] <= one["attempt_log"][1]["at"]
    # The endpoint's own list says the same; its acquirer and the central bank see it.
    assert till.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["results"][0]["id"] == (
        delivery.pk
    )
    for who in ("icbc_staff", "auditor"):
        assert api.client(who).get(f"/api/v1/webhook-deliveries/{delivery.pk}").json() == one


def test_deliveries_filter_by_state_endpoint_and_event_type(
    api, shop, till, carol, receiver, settings
):
    wallet, phone = carol
    url, received = receiver
    listening, deaf = registered(till, url), registered(till)
    settings.EWALLET_WEBHOOK_RETRY_SECONDS = 0  # the first refusal gives up
    payment = paid(till, phone, wallet, "20.00")
    made = refund(till, payment, "5.00", reason="bruised")
    assert made.json()["state"] == "SETTLED", made.content

    def ids(query: str, path: str = "/api/v1/webhook-deliveries") -> set[tuple[str, str]]:
        rows = till.get(f"{path}?{query}").json()["results"]
        return {(r["event"]["type"], r["url"], r["state"]) for r in rows}

    assert ids("") == {
        ("payment.settled", url, "DELIVERED"),
        ("refund.settled", url, "DELIVERED"),
        ("payment.settled", UNREACHABLE, "FAILED"),
        ("refund.settled", UNREACHABLE, "FAILED"),
    }
    assert ids("state=FAILED") == {
        ("payment.settled", UNREACHABLE, "FAILED"),
        ("refund.settled", UNREACHABLE, "FAILED"),
    }
    assert ids(f"endpoint={listening['id']}&type=refund.settled") == {
        ("refund.settled", url, "DELIVERED")
    }
    assert ids("type=payment.rejected") == set()
    assert ids("state=DELIVERED", f"/api/v1/webhooks/{deaf['id']}/deliveries") == set()
    assert ids("type=refund.settled", f"/api/v1/webhooks/{deaf['id']}/deliveries") == {
        ("refund.settled", UNREACHABLE, "FAILED")
    }
    assert len(received) == 2
    for query in ("state=LOST", "type=payment", "endpoint=first", "endpoint=0"):
        assert problem(till.get(f"/api/v1/webhook-deliveries?{query}")) == (
            400,
            "INVALID_INPUT",
        ), query
    # Another merchant's staff: none of these, and no endpoint of theirs to ask about.
    books = as_token(api.world.merchant("Futian Books", operator="CCB").token)
    assert books.get("/api/v1/webhook-deliveries").json()["results"] == []
    assert books.get(f"/api/v1/webhook-deliveries?endpoint={deaf['id']}").json()["results"] == []
    assert problem(books.get(f"/api/v1/webhooks/{deaf['id']}/deliveries")) == (404, "NOT_FOUND")


def test_a_delivered_event_is_sent_again_as_a_new_delivery(api, shop, till, carol, receiver):
    wallet, phone = carol
    url, received = receiver
    hook = registered(till, url)
    paid(till, phone, wallet, "8.00")
    first = WebhookDelivery.objects.get()
    assert (first.state, first.attempts) == (DeliveryState.DELIVERED, 1)
    log = till.get(f"/api/v1/webhook-deliveries/{first.pk}").json()["attempt_log"]
    assert [(a["status_code"], a["error"]) for a in log] == [(204, "")]

    again = post(till, f"/api/v1/webhook-deliveries/{first.pk}/redeliver", key="again-1")
    assert again.status_code == 202, again.content
    body = again.json()
    assert body["id"] != first.pk and body["event"]["id"] == first.event_id
    assert again["Location"] == f"/api/v1/webhook-deliveries/{body['id']}"
    assert body["endpoint"] == hook["id"]
    # The same key: the same answer, and nothing sent a third time.
    replayed = post(till, f"/api/v1/webhook-deliveries/{first.pk}/redeliver", key="again-1")
    assert replayed.content == again.content and replayed["Idempotent-Replayed"] == "true"
    assert WebhookDelivery.objects.count() == 2
    # Rung after the commit: here, in this process, sent already.
    assert till.get(again["Location"]).json()["state"] == "DELIVERED"
    assert len(received) == 2
    (headers_1, body_1), (headers_2, body_2) = received
    assert body_1 == body_2 == services.event_body(first.event)
    assert headers_1["Ecny-Event-Id"] == headers_2["Ecny-Event-Id"] == str(first.event_id)
    assert (headers_1["Ecny-Delivery-Id"], headers_2["Ecny-Delivery-Id"]) == (
        str(first.pk),
        str(body["id"]),
    )
    # Signed with the secret shown when the endpoint was registered.
    assert webhook_signing.verify(headers_2[webhook_signing.HEADER], body_2, hook["secret"])
    # The first delivery's log is as it was.
    first_now = till.get(f"/api/v1/webhook-deliveries/{first.pk}").json()
    assert (first_now["state"], first_now["attempt_log"]) == ("DELIVERED", log)


def test_a_given_up_delivery_is_sent_again_and_a_pending_one_is_tried_now(
    api, shop, till, carol, settings
):
    wallet, phone = carol
    hook = registered(till)
    paid(till, phone, wallet, "3.00")
    pending = WebhookDelivery.objects.get()
    assert (pending.state, pending.attempts) == (DeliveryState.PENDING, 1)

    # Still pending: the same delivery, due now, tried at once (refused again).
    path = f"/api/v1/webhook-deliveries/{pending.pk}/redeliver"
    now = post(till, path, key="now-1")
    assert (now.status_code, now.json()["id"]) == (202, pending.pk)
    assert (now.json()["state"], now.json()["attempts"], len(now.json()["attempt_log"])) == (
        "PENDING",
        2,
        2,
    )

    # Given up (its retry period over), then sent again: a new delivery, with a log of its
    # own; the old one stays FAILED with its three attempts.
    settings.EWALLET_WEBHOOK_RETRY_SECONDS = 0
    post(till, path, key="now-2")
    pending.refresh_from_db()
    assert (pending.state, pending.attempts) == (DeliveryState.FAILED, 3)
    settings.EWALLET_WEBHOOK_RETRY_SECONDS = 3600
    again = post(till, path, key="again-1")
    assert again.status_code == 202, again.content
    fresh = again.json()
    assert fresh["id"] != pending.pk and fresh["event"]["id"] == pending.event_id
    assert (fresh["state"], fresh["attempts"], len(fresh["attempt_log"])) == ("PENDING", 1, 1)
    old = till.get(f"/api/v1/webhook-deliveries/{pending.pk}").json()
    assert (old["state"], old["attempts"], len(old["attempt_log"])) == ("FAILED", 3, 3)
    assert old["next_attempt_at"] is None

    # Its acquirer and the central bank see it and may not send it; another merchant's
    # staff find nothing.
    for who in ("icbc_staff", "auditor"):
        assert problem(post(api.client(who), path, key=f"r-{who}")) == (
            403,
            "PERMISSION_DENIED",
        ), who
    books = as_token(api.world.merchant("Futian Books", operator="CCB").token)
    seen = post(books, path, key="b-1")
    absent = post(books, "/api/v1/webhook-deliveries/999999999/redeliver", key="b-2")
    assert problem(seen) == (404, "NOT_FOUND") and seen.content == absent.content
    assert problem(books.get(f"/api/v1/webhook-deliveries/{pending.pk}")) == (404, "NOT_FOUND")
    assert WebhookDelivery.objects.count() == 2

    # Switched off: what was pending is given up, and nothing is sent again.
    assert till.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 200
    assert till.get(again["Location"]).json()["state"] == "FAILED"
    assert problem(post(till, path, key="again-2")) == (409, "INVALID_STATE")
    assert WebhookDelivery.objects.count() == 2
