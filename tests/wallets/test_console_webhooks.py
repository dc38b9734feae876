"""Webhooks in the console: each page against each role, every action through the page a
person would use, secrets shown once, and the services' refusals shown on the form.

ICBC acquires the Luohu Tea House and the Gusu Bookshop, CCB the Futian Noodle Bar. The Tea
House has a webhook at a port where nothing listens, and so has the Noodle Bar. Alice
(ICBC) pays the Tea House's request T-1 of 36.80 CNY and Bob (CCB) the Noodle Bar's N-1 of
12.00: each payment settles, and its merchant's event waits to be delivered. The Tea
House's delivery has been tried once, refused by the closed port, and waits for a retry.
"""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from tests.helpers import key, settle
from tests.wallets.console_world import CENTRAL_BANK, STAFF, ConsoleWorld, merchant_registered
from wallets import services, webhook_signing
from wallets.actors import Actor
from wallets.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from wallets.services.webhooks import signing_secrets

pytestmark = pytest.mark.django_db

MERCHANT_STAFF = ["tea_staff", "book_staff", "noodle_staff"]
EVERYONE = [*STAFF, *MERCHANT_STAFF]
# Port 9 (discard): nothing listens there, so every attempt is refused at once.
NOWHERE = "http://127.0.0.1:9"


def paid(console, merchant, staff: str, payer: str, operator_staff: str, amount: int, order: str):
    """A request of `merchant` for `amount` fen, paid from `payer`'s wallet and settled: the
    merchant's event and a delivery to each of its live webhooks are written."""
    request = services.payment_request_create(
        actor=Actor.of(console.users[staff]),
        merchant=merchant,
        amount=amount,
        order_reference=order,
    )
    payment = services.payment_request_pay(
        actor=console.actors[operator_staff],
        payload=services.request_payload(request),
        wallet=console.wallets[payer].number,
        idempotency_key=key("qr"),
    ).payment
    settle()
    return payment


@pytest.fixture
def console(world):
    console = ConsoleWorld.build(world)
    console.tea = merchant_registered(
        console, "Luohu Tea House", "ICBC", "tea_staff", "91440300MA5T000001"
    )
    console.books = merchant_registered(
        console, "Gusu Bookshop", "ICBC", "book_staff", "91320500MA5B000002"
    )
    console.noodles = merchant_registered(
        console, "Futian Noodle Bar", "CCB", "noodle_staff", "91440300MA5N000003"
    )
    console.hook = services.webhook_register(
        actor=Actor.of(console.users["tea_staff"]), url=f"{NOWHERE}/tea-house/hooks"
    )
    console.noodle_hook = services.webhook_register(
        actor=Actor.of(console.users["noodle_staff"]), url=f"{NOWHERE}/noodle-bar/hooks"
    )
    console.payment = paid(console, console.tea, "tea_staff", "alice", "icbc_staff", 3_680, "T-1")
    paid(console, console.noodles, "noodle_staff", "bob", "ccb_staff", 1_200, "N-1")
    console.delivery = WebhookDelivery.objects.get(endpoint=console.hook)
    console.noodle_delivery = WebhookDelivery.objects.get(endpoint=console.noodle_hook)
    outcome = services.delivery_attempt(console.delivery.pk)
    assert (outcome.attempted, outcome.state) == (True, DeliveryState.PENDING)
    return console


TEA_ROW = {
    **dict.fromkeys(CENTRAL_BANK, 200),
    "icbc_staff": 200,
    "tea_staff": 200,
    "ccb_staff": 404,
    "book_staff": 404,
    "noodle_staff": 404,
}
NOODLE_ROW = {
    **dict.fromkeys(CENTRAL_BANK, 200),
    "ccb_staff": 200,
    "noodle_staff": 200,
    "icbc_staff": 404,
    "tea_staff": 404,
    "book_staff": 404,
}
EVERYONE_200 = dict.fromkeys(EVERYONE, 200)
# Acting for the Tea House: its own staff only; the central bank and ICBC see but may not.
TEA_ITSELF = {"tea_staff": 200, "ccb_staff": 404, "book_staff": 404, "noodle_staff": 404}
HOOKS = "/admin/wallets/webhookendpoint/"
DELIVERIES = "/admin/wallets/webhookdelivery/"

# (page, URL, expected status per user; users not named get 403; the holder, who is not
# staff, is sent to the login page)
PAGES = [
    ("webhook endpoints", lambda c: HOOKS, EVERYONE_200),
    ("the Tea House's webhook", lambda c: f"{HOOKS}{c.hook.pk}/change/", TEA_ROW),
    ("its history", lambda c: f"{HOOKS}{c.hook.pk}/history/", TEA_ROW),
    ("the Noodle Bar's webhook", lambda c: f"{HOOKS}{c.noodle_hook.pk}/change/", NOODLE_ROW),
    ("register a webhook", lambda c: f"{HOOKS}add/", dict.fromkeys(MERCHANT_STAFF, 200)),
    ("rotate its secret", lambda c: f"{HOOKS}{c.hook.pk}/rotate/", TEA_ITSELF),
    ("switch it off", lambda c: f"{HOOKS}{c.hook.pk}/switch-off/", TEA_ITSELF),
    ("delete it", lambda c: f"{HOOKS}{c.hook.pk}/delete/", {}),
    ("webhook deliveries", lambda c: DELIVERIES, EVERYONE_200),
    ("the Tea House's delivery", lambda c: f"{DELIVERIES}{c.delivery.pk}/change/", TEA_ROW),
    ("the Noodle Bar's delivery", lambda c: f"{DELIVERIES}{c.noodle_delivery.pk}/change/",
     NOODLE_ROW),
    ("redeliver it", lambda c: f"{DELIVERIES}{c.delivery.pk}/redeliver/", TEA_ITSELF),
    ("add a delivery", lambda c: f"{DELIVERIES}add/", {}),
    ("delete a delivery", lambda c: f"{DELIVERIES}{c.delivery.pk}/delete/", {}),
]  # fmt: skip


@pytest.mark.parametrize(("page", "url", "expected"), PAGES, ids=[page[0] for page in PAGES])
def test_each_role_opens_exactly_its_webhook_pages(console, page, url, expected):
    path = url(console)
    mismatches = []
    for who in [*EVERYONE, "holder"]:
        want = 302 if who == "holder" else expected.get(who, 403)
        got = console.client(who).get(path).status_code
        if got != want:
            mismatches.append(f"{who}: {got}, expected {want}")
    assert not mismatches, f"{page} ({path}): " + "; ".join(mismatches)


def listed(client: Client, url: str) -> set[int]:
    return {row.pk for row in client.get(url).context["cl"].result_list}


def test_each_list_shows_exactly_the_roles_scope(console):
    tea, noodles = console.hook.pk, console.noodle_hook.pk
    tea_delivery, noodle_delivery = console.delivery.pk, console.noodle_delivery.pk
    for who, hooks, deliveries in [
        ("auditor", {tea, noodles}, {tea_delivery, noodle_delivery}),
        ("icbc_staff", {tea}, {tea_delivery}),
        ("ccb_staff", {noodles}, {noodle_delivery}),
        ("tea_staff", {tea}, {tea_delivery}),
        ("noodle_staff", {noodles}, {noodle_delivery}),
        ("book_staff", set(), set()),
    ]:
        client = console.client(who)
        assert listed(client, HOOKS) == hooks, who
        assert listed(client, DELIVERIES) == deliveries, who
    # Neither a list nor its merchant filter names a merchant out of scope.
    for who, unseen in [
        ("ccb_staff", ["Luohu Tea House", "tea-house"]),
        ("icbc_staff", ["Futian Noodle Bar", "noodle-bar"]),
        ("book_staff", ["Luohu Tea House", "Futian Noodle Bar", "tea-house", "noodle-bar"]),
    ]:
        for url in [HOOKS, DELIVERIES]:
            page = console.client(who).get(url).content.decode()
            assert not [name for name in unseen if name in page], (who, url)
    # The central bank filters by merchant: the ones with webhooks.
    auditor = console.client("auditor")
    page = auditor.get(DELIVERIES).content.decode()
    assert "Luohu Tea House" in page and "Futian Noodle Bar" in page
    assert "Gusu Bookshop" not in page
    assert listed(auditor, f"{DELIVERIES}?merchant={console.noodles.pk}") == {noodle_delivery}
    assert listed(auditor, f"{HOOKS}?merchant={console.tea.pk}") == {tea}


def test_the_sidebar_shows_the_webhook_pages_to_merchant_roles(console):
    for who in ["auditor", "icbc_staff", "tea_staff"]:
        page = console.client(who).get("/admin/").content.decode()
        assert f'href="{HOOKS}"' in page and f'href="{DELIVERIES}"' in page, who


def buttons(client: Client, url: str, actions: list[str]) -> set[str]:
    page = client.get(url).content.decode()
    return {name for name in actions if f'href="{url.removesuffix("change/")}{name}/"' in page}


def test_only_the_merchants_staff_have_buttons(console):
    hook = f"{HOOKS}{console.hook.pk}/change/"
    delivery = f"{DELIVERIES}{console.delivery.pk}/change/"
    for who in [*CENTRAL_BANK, "icbc_staff"]:
        client = console.client(who)
        assert buttons(client, hook, ["rotate", "switch-off"]) == set(), who
        assert buttons(client, delivery, ["redeliver"]) == set(), who
        assert f"{HOOKS}add/" not in client.get(HOOKS).content.decode(), who
    tea = console.client("tea_staff")
    assert buttons(tea, hook, ["rotate", "switch-off"]) == {"rotate", "switch-off"}
    assert buttons(tea, delivery, ["redeliver"]) == {"redeliver"}
    assert f"{HOOKS}add/" in tea.get(HOOKS).content.decode()


def secret_on(page: str) -> str:
    return page.split('data-fact="secret"><code>')[1].split("</code>")[0]


def nowhere_shows(client: Client, endpoint: WebhookEndpoint, *secrets: str) -> None:
    """Neither the lists, the endpoint's pages nor the console's history show a secret."""
    for url in [
        HOOKS,
        f"{HOOKS}{endpoint.pk}/change/",
        f"{HOOKS}{endpoint.pk}/history/",
        DELIVERIES,
        f"{HOOKS}{endpoint.pk}/rotate/",
    ]:
        page = client.get(url).content.decode()
        assert not [secret for secret in secrets if secret in page], url
    history = " ".join(LogEntry.objects.values_list("change_message", flat=True))
    assert not [secret for secret in secrets if secret in history]


def test_merchant_staff_register_a_webhook_and_see_its_secret_once(console):
    tea = console.client("tea_staff")
    answer = tea.post(f"{HOOKS}add/", {"url": f"{NOWHERE}/tea-house/second"})
    assert answer.status_code == 200, answer.content.decode()[-2000:]
    assert "no-store" in answer["Cache-Control"]
    secret = secret_on(answer.content.decode())
    endpoint = WebhookEndpoint.objects.get(url=f"{NOWHERE}/tea-house/second")
    assert (endpoint.merchant, endpoint.active, endpoint.secret) == (console.tea, True, secret)
    assert secret.startswith("whsec_")
    nowhere_shows(tea, endpoint, secret)
    nowhere_shows(console.client("auditor"), endpoint, secret)
    assert endpoint.pk in listed(tea, HOOKS)
    history = tea.get(f"{HOOKS}{endpoint.pk}/history/").content.decode()
    assert f"webhook {NOWHERE}/tea-house/second registered" in history

    # Refused by the service, with its code on the form, and nothing registered.
    answer = tea.post(f"{HOOKS}add/", {"url": "http://169.254.169.254/latest/meta-data"})
    assert answer.status_code == 200
    assert "WEBHOOK_TARGET_REFUSED: 169.254.169.254 resolves to" in answer.content.decode()
    answer = tea.post(f"{HOOKS}add/", {"url": "ftp://127.0.0.1/hooks"})
    assert "WEBHOOK_TARGET_REFUSED: a webhook URL is http:// or https://" in (
        answer.content.decode()
    )
    for number in range(3):
        assert tea.post(f"{HOOKS}add/", {"url": f"{NOWHERE}/{number}"}).status_code == 200
    answer = tea.post(f"{HOOKS}add/", {"url": f"{NOWHERE}/sixth"})
    assert "WEBHOOK_LIMIT: a merchant has at most 5 live webhooks" in answer.content.decode()
    assert console.tea.webhooks.count() == 5
    # Nobody but a merchant's staff registers one.
    for who in ["icbc_staff", "approver"]:
        response = console.client(who).post(f"{HOOKS}add/", {"url": f"{NOWHERE}/{who}"})
        assert response.status_code == 403, who
    assert console.tea.webhooks.count() == 5


def test_rotating_shows_the_new_secret_once_and_until_when_the_old_one_signs(console):
    hook = console.hook
    old = hook.secret
    url = f"{HOOKS}{hook.pk}/rotate/"
    # Those who may not rotate it change nothing.
    assert console.client("icbc_staff").post(url).status_code == 403
    assert console.client("ccb_staff").post(url).status_code == 404
    hook.refresh_from_db()
    assert (hook.secret, hook.previous_secret) == (old, "")

    tea = console.client("tea_staff")
    form = tea.get(url).content.decode()
    assert old not in form and "Rotate" in form
    answer = tea.post(url)
    assert answer.status_code == 200 and "no-store" in answer["Cache-Control"]
    page = answer.content.decode()
    new = secret_on(page)
    hook.refresh_from_db()
    assert (hook.secret, hook.previous_secret) == (new, old) and new != old
    assert 'data-fact="previous secret signs until"' in page and old not in page
    # Both sign for now: a receiver holding either accepts.
    assert signing_secrets(hook, timezone.now()) == [new, old]
    change = tea.get(f"{HOOKS}{hook.pk}/change/").content.decode()
    assert "still signs beside the new one until" in change
    nowhere_shows(tea, hook, old, new)


def test_switching_off_gives_up_what_was_pending_and_refuses_more(console):
    hook, delivery = console.hook, console.delivery
    url = f"{HOOKS}{hook.pk}/switch-off/"
    assert console.client("auditor").post(url).status_code == 403
    assert console.client("book_staff").post(url).status_code == 404
    tea = console.client("tea_staff")
    assert 'data-fact="pending deliveries">1' in tea.get(url).content.decode()
    response = tea.post(url)
    assert (response.status_code, response["Location"]) == (302, f"{HOOKS}{hook.pk}/change/")
    hook.refresh_from_db()
    delivery.refresh_from_db()
    assert (hook.active, delivery.state, delivery.attempts) == (False, DeliveryState.FAILED, 1)
    page = tea.get(response["Location"]).content.decode()
    assert "SWITCHED OFF" in page and "switched off; what was pending for it is given up" in page

    # Refused by the services, their codes shown on the forms; nothing changes.
    answer = tea.post(f"{HOOKS}{hook.pk}/rotate/")
    assert answer.status_code == 200
    assert "INVALID_STATE: this webhook is switched off" in answer.content.decode()
    answer = tea.post(f"{DELIVERIES}{delivery.pk}/redeliver/")
    assert answer.status_code == 200
    assert "INVALID_STATE: this webhook is switched off" in answer.content.decode()
    assert WebhookDelivery.objects.filter(event=delivery.event).count() == 1
    hook.refresh_from_db()
    assert hook.previous_secret == ""


def test_the_delivery_page_shows_the_body_sent_and_each_attempt(console):
    delivery = console.delivery
    body = services.event_body(delivery.event).decode()
    for who in ["tea_staff", "icbc_staff", "auditor"]:
        page = console.client(who).get(f"{DELIVERIES}{delivery.pk}/change/").content.decode()
        shown = page.split('<pre id="event-body"')[1].split(">", 1)[1].split("</pre>")[0]
        assert shown.replace("&quot;", '"') == body, who
        assert '"order_reference":"T-1"' in body and '"amount_fen":3680' in body
        log = page.split('<table id="attempt-log">')[1].split("</table>")[0]
        assert log.count("<tr>") == 2  # its head, and the one attempt
        assert "ConnectError" in log and " ms</td>" in log, who
        assert "payment.settled" in page and "PENDING" in page
    tea = console.client("tea_staff")
    # The list, and its filters by state and by event type.
    assert listed(tea, f"{DELIVERIES}?state__exact=PENDING") == {delivery.pk}
    assert listed(tea, f"{DELIVERIES}?state__exact=DELIVERED") == set()
    assert listed(tea, f"{DELIVERIES}?event__type__exact=payment.settled") == {delivery.pk}
    assert listed(tea, f"{DELIVERIES}?event__type__exact=refund.settled") == set()
    # The endpoint's counts, each linked to those deliveries.
    page = tea.get(HOOKS).content.decode()
    assert (
        f'href="{DELIVERIES}?endpoint__id__exact={console.hook.pk}&amp;state__exact=PENDING">1<'
        in (page)
    )
    assert listed(tea, f"{DELIVERIES}?endpoint__id__exact={console.hook.pk}") == {delivery.pk}


def test_a_failed_delivery_is_redelivered_as_a_new_one_by_the_merchants_staff(console, settings):
    settings.EWALLET_WEBHOOK_RETRY_SECONDS = 0  # the next refusal is the last
    delivery = console.delivery
    delivery.next_attempt_at = delivery.created_at
    delivery.save(update_fields=["next_attempt_at"])
    assert services.delivery_attempt(delivery.pk).state == DeliveryState.FAILED
    url = f"{DELIVERIES}{delivery.pk}/redeliver/"
    for who in ["icbc_staff", "auditor"]:
        assert console.client(who).post(url).status_code == 403, who
    assert console.client("ccb_staff").post(url).status_code == 404
    assert WebhookDelivery.objects.filter(event=delivery.event).count() == 1

    tea = console.client("tea_staff")
    response = tea.post(url)
    assert response.status_code == 302
    again = WebhookDelivery.objects.exclude(pk=delivery.pk).get(event=delivery.event)
    assert response["Location"] == f"{DELIVERIES}{again.pk}/change/"
    assert (again.endpoint, again.state, again.attempts) == (console.hook, "PENDING", 0)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.FAILED, 2)  # as it was
    page = tea.get(response["Location"]).content.decode()
    assert f"redelivered as delivery #{again.pk}" in page
    assert f'href="{DELIVERIES}{delivery.pk}/change/">#{delivery.pk} FAILED' in page
    assert "none yet" in page  # no attempt of the new one yet
    old_page = tea.get(f"{DELIVERIES}{delivery.pk}/change/").content.decode()
    assert old_page.split('<table id="attempt-log">')[1].count("<tr>") == 3


class Receiver(BaseHTTPRequestHandler):
    """A merchant's server that takes every event (204) and keeps what it was sent."""

    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.headers[webhook_signing.HEADER], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/ecny"
    server.shutdown()
    server.server_close()


def test_a_delivered_event_is_redelivered_and_a_pending_one_tried_now(console, receiver):
    tea_staff = Actor.of(console.users["tea_staff"])
    live = services.webhook_register(actor=tea_staff, url=receiver)
    payment = paid(console, console.tea, "tea_staff", "alice", "icbc_staff", 1_000, "T-2")
    delivery = WebhookDelivery.objects.get(endpoint=live, event__transfer=payment.transfer)
    assert services.delivery_attempt(delivery.pk).state == DeliveryState.DELIVERED
    ((signed, body),) = Receiver.received
    assert body == services.event_body(delivery.event)
    assert webhook_signing.verify(signed, body, live.secret)

    tea = console.client("tea_staff")
    page = tea.get(f"{DELIVERIES}{delivery.pk}/change/").content.decode()
    log = page.split('<table id="attempt-log">')[1].split("</table>")[0]
    assert '<td class="pr-4">204</td>' in log and "DELIVERED" in page
    response = tea.post(f"{DELIVERIES}{delivery.pk}/redeliver/")
    assert response.status_code == 302
    again = WebhookDelivery.objects.get(event=delivery.event, endpoint=live, state="PENDING")
    assert response["Location"] == f"{DELIVERIES}{again.pk}/change/"
    assert services.delivery_attempt(again.pk).state == DeliveryState.DELIVERED
    assert [sent for _, sent in Receiver.received] == [body, body]  # the same bytes again

    # One still being tried (the closed port's) is not copied: it is tried now.
    pending = WebhookDelivery.objects.get(endpoint=console.hook, event__transfer=payment.transfer)
    response = tea.post(f"{DELIVERIES}{pending.pk}/redeliver/")
    assert response["Location"] == f"{DELIVERIES}{pending.pk}/change/"
    assert (
        f"delivery #{pending.pk} is tried again now"
        in tea.get(response["Location"]).content.decode()
    )
    assert WebhookDelivery.objects.filter(event=pending.event, endpoint=console.hook).count() == 1


def test_every_webhook_form_wants_its_csrf_token(console):
    """A browser's POST without the form's token (another site's, say) changes nothing."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(console.users["tea_staff"])
    hook, delivery = console.hook, console.delivery
    for url, data in [
        (f"{HOOKS}add/", {"url": f"{NOWHERE}/forged"}),
        (f"{HOOKS}{hook.pk}/rotate/", {}),
        (f"{HOOKS}{hook.pk}/switch-off/", {}),
        (f"{DELIVERIES}{delivery.pk}/redeliver/", {}),
    ]:
        assert client.post(url, data).status_code == 403, url
        assert 'name="csrfmiddlewaretoken"' in client.get(url).content.decode(), url
    hook.refresh_from_db()
    assert (hook.active, hook.previous_secret) == (True, "")
    assert console.tea.webhooks.count() == 1
    assert WebhookDelivery.objects.filter(event=delivery.event).count() == 1
