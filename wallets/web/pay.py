"""Pay by code: the page a holder's phone opens for a scanned merchant QR code.

    GET  /pay/?code=<payload>         whom you pay, how much, for what; pick a wallet
    POST /pay/                        sign in, sign out, or pay (one service call)
    GET  /pay/payments/<transfer>/    the payment made, and its transfer's state

A holder signs in with the device token their operator enrolled for their wallet app. The
token is checked at sign-in (`wallets.auth.token_authenticate`); the session keeps the
token's id, never its secret, and each request checks the token is still live, so a
revoked or expired device is signed out at once. Everything else is the services': what a
code names, whether it may be paid, from which wallets.
"""

import math
import secrets
from urllib.parse import urlencode

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.exceptions import Throttled

from ewallet.errors import EwalletError
from ewallet.money import format_fen, parse_yuan
from wallets import selectors, services
from wallets.actors import Actor
from wallets.api.throttling import auth_failure_count, auth_failures_refuse
from wallets.auth import token_authenticate
from wallets.models import ApiToken, MerchantPayment, PaymentRequestKind

SESSION_TOKEN = "pay_device_token"


def _signed_in(request) -> ApiToken | None:
    token_id = request.session.get(SESSION_TOKEN)
    if token_id is None:
        return None
    token = (
        ApiToken.objects.select_related("user").filter(pk=token_id, user__is_active=True).first()
    )
    if token is None or not token.is_live():
        request.session.pop(SESSION_TOKEN, None)
        return None
    return token


def _own_wallets(who: Actor):
    """The wallets the holder pays from: their own (a holder's login sees no others)."""
    return selectors.wallets_visible_to(who).filter(holder_id=who.holder_id).order_by("number")


def _page(request, step: str, *, status: int = 200, **context):
    return render(request, "web/pay.html", {"step": step, **context}, status=status)


def _here(code: str = "") -> str:
    return reverse("pay") + (f"?{urlencode({'code': code})}" if code else "")


@require_http_methods(["GET", "POST"])
def pay_page(request):
    code = (request.POST.get("code") or request.GET.get("code") or "").strip()
    step = request.POST.get("step", "")
    if request.method == "POST" and step == "sign-in":
        return _sign_in(request, code)
    if request.method == "POST" and step == "sign-out":
        request.session.pop(SESSION_TOKEN, None)
        return HttpResponseRedirect(_here())
    token = _signed_in(request)
    if token is None:
        status = 200 if request.method == "GET" else 403
        return _page(request, "sign-in", code=code, status=status)
    who = Actor.of(token.user)
    if not code:
        return _page(request, "scan", token=token)
    if request.method == "POST":
        return _pay(request, who, token, code)
    return _confirm(request, who, token, code)


def _sign_in(request, code: str):
    # Token guessing is counted per address, as on the API: past EWALLET_AUTH_FAILURE_RATE
    # wrong tokens, no token is looked at from there until the window ends.
    try:
        auth_failures_refuse(request)
    except Throttled as refused:
        wait = max(1, math.ceil(refused.wait or 1))
        page = _page(
            request,
            "sign-in",
            code=code,
            status=429,
            error=f"Too many wrong tokens from here: try again in {wait} seconds.",
        )
        page["Retry-After"] = str(wait)
        return page
    token = token_authenticate(request.POST.get("token", "").strip())
    if token is None:
        auth_failure_count(request)
        return _page(
            request, "sign-in", code=code, status=403, error="That is not a live device token."
        )
    if Actor.of(token.user).holder_id is None:
        return _page(
            request,
            "sign-in",
            code=code,
            status=403,
            error="Sign in with the token of your wallet app: this page is for wallet holders.",
        )
    request.session.cycle_key()  # a new session id for a new sign-in
    request.session[SESSION_TOKEN] = token.pk
    return HttpResponseRedirect(_here(code))


def _confirm(request, who: Actor, token: ApiToken, code: str, *, error: str = "", status=200):
    try:
        payment_request = services.request_from_payload(code)
    except EwalletError as refused:
        return _page(
            request,
            "scan",
            token=token,
            code=code,
            error=f"{refused.code}: {refused.message}",
            status=refused.status,
        )
    state = services.request_state(payment_request)
    return _page(
        request,
        "confirm",
        status=status,
        token=token,
        code=code,
        error=error,
        payment_request=payment_request,
        merchant=payment_request.merchant,
        amount=None if payment_request.amount is None else format_fen(payment_request.amount),
        payer_enters_amount=payment_request.kind == PaymentRequestKind.STATIC,
        state=state,
        payable=state == services.RequestState.OPEN,
        wallets=[(wallet.number, format_fen(wallet.balance)) for wallet in _own_wallets(who)],
        # One key per page shown: a second submit of it pays once.
        nonce=secrets.token_hex(16),
    )


def _pay(request, who: Actor, token: ApiToken, code: str):
    nonce = request.POST.get("nonce", "")
    try:
        amount = None
        if request.POST.get("amount", "").strip():
            amount = parse_yuan(request.POST["amount"].strip().replace(",", ""))
        paid = services.payment_request_pay(
            actor=who,
            payload=code,
            wallet=request.POST.get("wallet", ""),
            amount=amount,
            idempotency_key=f"pay-page:{token.user_id}:{nonce or secrets.token_hex(16)}",
        )
    except EwalletError as refused:
        return _confirm(
            request,
            who,
            token,
            code,
            error=f"{refused.code}: {refused.message}",
            status=refused.status,
        )
    return HttpResponseRedirect(reverse("pay-payment", args=[paid.transfer.pk]))


@require_GET
def payment_page(request, transfer_id: int):
    token = _signed_in(request)
    if token is None:
        return HttpResponseRedirect(_here())
    who = Actor.of(token.user)
    payment = (
        MerchantPayment.objects.select_related(
            "merchant", "request", "transfer", "payer_wallet__account"
        )
        .filter(transfer_id=transfer_id, payer_wallet__in=_own_wallets(who))
        .first()
    )
    if payment is None:
        raise Http404("no such payment of yours")
    return _page(
        request,
        "paid",
        token=token,
        payment=payment,
        merchant=payment.merchant,
        amount=format_fen(payment.amount),
        transfer=payment.transfer,
        balance=format_fen(payment.payer_wallet.balance),
    )
