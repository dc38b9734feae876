"""The REST wallet API, /api/v1/. Each view: parse input, find, one service, present.

Views hold no rule of who may do what: they find objects through the scoped selectors (an
object outside the caller's sight is a 404, the same as one that does not exist) and call
one service with the caller as its `actor`; the service refuses what the caller may see
but not do (403) or what the state forbids (409), and the error renders as a problem.
"""

import time
from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ewallet.errors import ErrorCode, EwalletError
from settlement.audit import keys, proofs
from settlement.models import (
    Account,
    Asset,
    Checkpoint,
    Transfer,
    TransferKind,
    TransferLeg,
    TransferState,
)
from wallets import selectors, services
from wallets.actors import request_actor
from wallets.api import present
from wallets.api import serializers as s
from wallets.api.batch import parse_batch, parse_payment, read_payment
from wallets.api.fields import parse
from wallets.api.health import health_report
from wallets.api.idempotency import (
    idempotency_key,
    idempotent,
    ledger_key,
    request_fingerprint,
    well_formed_key,
)
from wallets.api.schema import (
    IDEMPOTENCY_KEY,
    INSUFFICIENT_EXAMPLE,
    LOCATION,
    PAGE_PARAMETERS,
    PAYMENT_EXAMPLE,
    REPLAYED,
    NewestFirst,
    PageQuery,
    page_of,
    problems,
)
from wallets.api.waiting import waiting_seat
from wallets.auth import token_issue, token_revoke, tokens_revoke_all
from wallets.models import ApiToken, Holder, Merchant, Operator, Wallet

# The longest a client may ask a payment to wait for its settlement: a wait holds a web
# worker, so it is bounded (a longer one is refused, 400, as the schema's maximum says).
MAX_WAIT_MS = 10_000
# Polls start quick, for the usual decision within milliseconds, and slow down to one read
# per WAIT_POLL_MAX_SECONDS, so a waiter on a slow settlement costs the database little.
WAIT_POLL_SECONDS = 0.01
WAIT_POLL_MAX_SECONDS = 0.1


def page(view, request, queryset, out: type[serializers.Serializer], **context):
    """A cursor page of the queryset, each row rendered by `out` with `context`."""
    parse(PageQuery, request.query_params)
    paginator = NewestFirst()
    rows = paginator.paginate_queryset(queryset, request, view=view)
    return Response(
        {
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": out(rows, many=True, context=context).data,
        }
    )


def transfer_url(transfer: Transfer) -> str:
    return reverse("api:transfer", kwargs={"transfer_id": transfer.pk})


# ---------------------------------------------------------------- health, caller, tokens


class HealthView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Liveness of the database, the broker and the settlement workers",
        auth=[],
        responses={200: s.HealthOut, 503: s.HealthOut, **problems(public=True)},
    )
    def get(self, request):
        report = health_report()
        return Response(report, status=200 if report["status"] == "ok" else 503)


class MeView(APIView):
    @extend_schema(summary="Who the caller is here", responses={200: s.MeOut, **problems()})
    def get(self, request):
        who = request_actor(request)
        operator = Operator.objects.filter(pk=who.operator_id).values_list("code", flat=True)
        holder = Holder.objects.filter(pk=who.holder_id).values_list("pseudonym", flat=True)
        merchant = Merchant.objects.filter(pk=who.merchant_id).values_list("code", flat=True)
        return Response(
            {
                "username": request.user.get_username(),
                "roles": sorted(who.roles),
                "operator": operator.first() if who.operator_id else None,
                "holder": holder.first() if who.holder_id else None,
                "merchant": merchant.first() if who.merchant_id else None,
            }
        )


def token_ttl(data: dict) -> timedelta | None:
    """A TokenIn's lifetime: `ttl_days`, or none (until revoked, or its parent's end)."""
    ttl_days = data.get("ttl_days")
    return None if ttl_days is None else timedelta(days=ttl_days)


class TokensView(APIView):
    @extend_schema(
        summary="The caller's API tokens", responses={200: s.TokenOut(many=True), **problems()}
    )
    def get(self, request):
        tokens = ApiToken.objects.filter(user=request.user).order_by("-pk")
        return Response(s.TokenOut(tokens, many=True).data)

    @extend_schema(
        summary="Mint an API token for the caller (its secret is shown once)",
        description="Minted with a token (not a signed-in session), the new token expires no "
        "later than that one and is revoked with it. A user holds at most "
        "EWALLET_MAX_TOKENS_PER_USER live tokens (409 TOKEN_LIMIT).",
        request=s.TokenIn,
        responses={201: s.TokenCreatedOut, **problems(400, 409)},
    )
    def post(self, request):
        data = parse(s.TokenIn, request.data)
        secret, token = token_issue(
            actor=request_actor(request),
            name=data["name"],
            ttl=token_ttl(data),
            minted_with=request.auth if isinstance(request.auth, ApiToken) else None,
        )
        return Response(s.TokenCreatedOut(token, context={"secret": secret}).data, status=201)


class TokensRevokeAllView(APIView):
    @extend_schema(
        summary="Revoke every token of the caller (this one included)",
        request=None,
        responses={200: s.RevokedOut, **problems()},
    )
    def post(self, request):
        return Response({"revoked": tokens_revoke_all(actor=request_actor(request))})


class HolderDevicesView(APIView):
    @extend_schema(
        summary="Enrol a holder's wallet-app device: a token of the holder's, shown once",
        description="By the staff of the operator that KYC'd the holder (another operator's "
        "holder is not found). The holder gets a login of their own if they have none; with "
        "the token they use the API for their own wallets only.",
        request=s.TokenIn,
        responses={201: s.TokenCreatedOut, **problems(400, 403, 404, 409)},
    )
    def post(self, request, holder_id: str):
        who = request_actor(request)
        holder = get_object_or_404(selectors.holders_visible_to(who), pseudonym=holder_id)
        data = parse(s.TokenIn, request.data)
        secret, token = services.holder_device_enrol(
            actor=who,
            holder=holder,
            name=data["name"],
            ttl=token_ttl(data),
        )
        return Response(s.TokenCreatedOut(token, context={"secret": secret}).data, status=201)


class TokenView(APIView):
    @extend_schema(
        summary="Revoke one of the caller's tokens, and the tokens minted with it",
        responses={204: None, **problems(404)},
    )
    def delete(self, request, token_id: int):
        token_revoke(actor=request_actor(request), token_id=token_id)
        return Response(status=204)


# ---------------------------------------------------------------- wallets


def visible_wallet(request, number: str) -> Wallet:
    return get_object_or_404(selectors.wallets_visible_to(request_actor(request)), number=number)


def wait_for_decision(transfer: Transfer, wait_ms: int) -> Transfer:
    """The transfer, read again until it is decided or wait_ms have passed; at once when
    every waiting seat is taken (waiting.py)."""
    if transfer.state != TransferState.RECEIVED or wait_ms <= 0:
        return transfer
    with waiting_seat(wait_ms) as wait_ms:
        deadline = time.monotonic() + wait_ms / 1000
        pause = WAIT_POLL_SECONDS
        while (
            transfer.state == TransferState.RECEIVED and (left := deadline - time.monotonic()) > 0
        ):
            time.sleep(min(pause, left))
            pause = min(pause * 2, WAIT_POLL_MAX_SECONDS)
            transfer.refresh_from_db(fields=["state", "reject_code", "decided_at"])
    return transfer


def transfer_response(
    request, transfer: Transfer, wait_ms: int = 0, legs: list[present.LegView] | None = None
) -> Response:
    """202 and the transfer while pending; 201 once decided (after waiting up to wait_ms).

    `legs`, when the caller knows them (a payment), take the hand-built fast path."""
    wait_for_decision(transfer, wait_ms)
    if legs is None:
        body = s.TransferOut(present.fetch_legs(transfer)).data
    else:
        body = present.transfer(transfer, legs)
    status = 202 if transfer.state == TransferState.RECEIVED else 201
    return Response(body, status=status, headers={"Location": transfer_url(transfer)})


class WalletsView(APIView):
    @extend_schema(
        summary="Wallets the caller may see, newest first",
        operation_id="wallets_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(s.WalletOut), **problems(400)},
    )
    def get(self, request):
        who = request_actor(request)
        wallets = selectors.wallets_visible_to(who)
        return page(self, request, wallets, s.WalletOut, actor=who)

    @extend_schema(
        summary="Open a wallet at the caller's operator (for a new or an existing holder)",
        description="By the operator's staff, for a holder KYC'd at their own operator; "
        "another operator's holder is not found (404). The class defaults to the strongest "
        "the holder's KYC evidence allows.",
        request=s.WalletOpenIn,
        responses={201: s.WalletOut, **problems(400, 403, 404)},
    )
    def post(self, request):
        who = request_actor(request)
        data = parse(s.WalletOpenIn, request.data)
        if "holder" in data:
            wallet = services.holder_onboard(
                actor=who, wallet_class=data.get("wallet_class"), **data["holder"]
            )
        else:
            holder = Holder.objects.filter(pseudonym=data["holder_id"]).first()
            if holder is None:
                raise EwalletError(
                    ErrorCode.NOT_FOUND, f"no holder {data['holder_id']}", field="holder_id"
                )
            wallet = services.wallet_open(
                actor=who, holder=holder, wallet_class=data.get("wallet_class")
            )
        location = reverse("api:wallet", kwargs={"number": wallet.number})
        body = s.WalletOut(wallet, context={"actor": who}).data
        return Response(body, status=201, headers={"Location": location})


class WalletView(APIView):
    @extend_schema(
        summary="A wallet: balance, class, limits and how much of them is used, status",
        responses={200: s.WalletDetailOut, **problems(404)},
    )
    def get(self, request, number: str):
        wallet = visible_wallet(request, number)
        context = {"actor": request_actor(request), "usage": selectors.wallet_limit_usage(wallet)}
        return Response(s.WalletDetailOut(wallet, context=context).data)


class HistoryQuery(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    kind = serializers.ChoiceField(choices=TransferKind.choices, required=False)
    state = serializers.ChoiceField(choices=TransferState.choices, required=False)
    counterparty = serializers.CharField(
        required=False, max_length=64, help_text="a wallet number or an account label"
    )


class WalletHistoryView(APIView):
    @extend_schema(
        summary="Money in and out of a wallet, newest first",
        parameters=[HistoryQuery, *PAGE_PARAMETERS],
        responses={200: page_of(s.HistoryEntryOut), **problems(400, 404)},
    )
    def get(self, request, number: str):
        wallet = visible_wallet(request, number)
        query = parse(HistoryQuery, request.query_params)
        counterparty = None
        if name := query.pop("counterparty", None):
            label = name if ":" in name else f"wallet:{name}"
            counterparty = Account.objects.filter(label=label).first()
            if counterparty is None:
                return page(self, request, TransferLeg.objects.none(), s.HistoryEntryOut)
        legs = selectors.wallet_history(wallet, counterparty=counterparty, **query)
        return page(self, request, legs, s.HistoryEntryOut, account_id=wallet.account_id)


class WalletClassView(APIView):
    @extend_schema(
        summary="Upgrade or downgrade a wallet's class (stronger classes need the KYC for it)",
        request=s.WalletClassIn,
        responses={200: s.WalletOut, **problems(400, 403, 404)},
    )
    def post(self, request, number: str):
        wallet = visible_wallet(request, number)
        data = parse(s.WalletClassIn, request.data)
        wallet = services.wallet_change_class(
            actor=request_actor(request), wallet=wallet, wallet_class=data["wallet_class"]
        )
        wallet.account.refresh_from_db()
        return Response(s.WalletOut(wallet, context={"actor": request_actor(request)}).data)


class WalletFreezesView(APIView):
    @extend_schema(
        summary="A wallet's freeze orders, in force and lifted, newest first",
        operation_id="wallet_freezes_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(s.FreezeOrderOut), **problems(400, 404)},
    )
    def get(self, request, number: str):
        wallet = visible_wallet(request, number)
        orders = selectors.freeze_orders(wallet=wallet)
        return page(self, request, orders, s.FreezeOrderOut)

    @extend_schema(
        summary="Order a freeze (FULL or RECEIVE_ONLY), with a reason",
        description="By the wallet's operator's staff (an operator's order) or a central-bank "
        "approver (a central-bank order). Orders stack: the wallet is frozen while any FULL "
        "order is in force, receive-only while any RECEIVE_ONLY one is, active when none is.",
        request=s.FreezeIn,
        responses={201: s.FreezeOrderOut, **problems(400, 403, 404, 409)},
    )
    def post(self, request, number: str):
        wallet = visible_wallet(request, number)
        data = parse(s.FreezeIn, request.data)
        order = services.wallet_freeze(actor=request_actor(request), wallet=wallet, **data)
        return Response(s.FreezeOrderOut(order).data, status=201)


class FreezeLiftView(APIView):
    @extend_schema(
        summary="Lift a freeze order, with a reason",
        description="Only by the authority that gave it: a central-bank order by a "
        "central-bank approver, an operator's by that operator's staff (403 "
        "FREEZE_AUTHORITY otherwise).",
        request=s.ReasonIn,
        responses={200: s.FreezeOrderOut, **problems(400, 403, 404, 409)},
    )
    def post(self, request, number: str, order_id: int):
        wallet = visible_wallet(request, number)
        order = get_object_or_404(selectors.freeze_orders(wallet=wallet), pk=order_id)
        data = parse(s.ReasonIn, request.data)
        order = services.freeze_lift(actor=request_actor(request), order=order, **data)
        return Response(s.FreezeOrderOut(order).data)


class WalletCloseView(APIView):
    @extend_schema(
        summary="Close a wallet for good (empty, under no freeze), with a reason",
        request=s.ReasonIn,
        responses={200: s.WalletOut, **problems(400, 403, 404, 409)},
    )
    def post(self, request, number: str):
        who = request_actor(request)
        wallet = visible_wallet(request, number)
        data = parse(s.ReasonIn, request.data)
        wallet = services.wallet_close(actor=who, wallet=wallet, **data)
        return Response(s.WalletOut(wallet, context={"actor": who}).data)


class _MoveView(APIView):
    """Load (bank deposit -> e-CNY) or unload (e-CNY -> bank deposit), by the operator."""

    service = None

    @idempotent
    def post(self, request, number: str):
        wallet = visible_wallet(request, number)
        data = parse(s.AmountIn, request.data)
        transfer = type(self).service(
            actor=request_actor(request),
            wallet=wallet,
            amount=data["amount"],
            idempotency_key=ledger_key(request, idempotency_key(request)),
        )
        return transfer_response(request, transfer)


def _move_schema(summary: str):
    return extend_schema(
        summary=summary,
        request=s.AmountIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={
            202: OpenApiResponse(s.TransferOut, description="queued"),
            **problems(400, 403, 404, 409, 422),
        },
    )


# Each subclass decorates a method of its own: extend_schema marks the function it is
# given, so decorating the shared _MoveView.post twice left both with the last summary.


class WalletLoadView(_MoveView):
    service = staticmethod(services.wallet_load)

    @_move_schema("Load a wallet from the holder's bank deposit")
    def post(self, request, number: str):
        return super().post(request, number)


class WalletUnloadView(_MoveView):
    service = staticmethod(services.wallet_unload)

    @_move_schema("Unload a wallet to the holder's bank deposit")
    def post(self, request, number: str):
        return super().post(request, number)


# ---------------------------------------------------------------- transfers


class WaitQuery(serializers.Serializer):
    wait = serializers.IntegerField(
        min_value=0,
        max_value=MAX_WAIT_MS,
        required=False,
        default=0,
        help_text="milliseconds to wait for the payment to settle or be rejected, at most "
        f"{MAX_WAIT_MS:,} (more is a 400); the answer is 202 if it is still queued by then",
    )


class TransferQuery(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TransferKind.choices, required=False)
    state = serializers.ChoiceField(choices=TransferState.choices, required=False)


class TransfersView(APIView):
    @extend_schema(
        summary="Transfers the caller may see, newest first",
        operation_id="transfers_list",
        parameters=[TransferQuery, *PAGE_PARAMETERS],
        responses={200: page_of(s.TransferOut), **problems(400)},
    )
    def get(self, request):
        query = parse(TransferQuery, request.query_params)
        transfers = present.with_legs(selectors.transfers_visible_to(request_actor(request)))
        transfers = transfers.filter(**query)
        return page(self, request, transfers, s.TransferOut)

    @extend_schema(
        summary="Pay: person to person, or to a merchant",
        description="Asynchronous: answers 202 with the queued transfer and its Location. "
        "With `?wait=ms` the answer waits for the decision and is 201 with the settled or "
        "rejected transfer if it came in time. A rejection is a state of the transfer "
        "(`reject_code`), not an error of the request.",
        request=s.PaymentIn,
        parameters=[IDEMPOTENCY_KEY, WaitQuery, REPLAYED, LOCATION],
        examples=[PAYMENT_EXAMPLE, INSUFFICIENT_EXAMPLE],
        responses={
            202: OpenApiResponse(s.TransferOut, description="queued"),
            201: OpenApiResponse(s.TransferOut, description="decided within ?wait"),
            **problems(400, 403, 404, 409, 413, 422),
        },
    )
    def post(self, request):
        return _pay_at_once(request) or self._post_under_claim(request)

    @idempotent
    def _post_under_claim(self, request):
        wait_ms = parse(WaitQuery, request.query_params)["wait"] if request.query_params else 0
        data = parse_payment(request.data)
        transfer, payer, payee = services.payment_submit(
            actor=request_actor(request),
            payer=data["payer"],
            payee=data["payee"],
            amount=data["amount"],
            idempotency_key=ledger_key(request, idempotency_key(request)),
            memo=data["memo"],
        )
        # A payment's one leg is known here: no need to read it back.
        legs = [present.LegView(Asset.ECNY, payer.number, payee.number, data["amount"])]
        return transfer_response(request, transfer, wait_ms, legs)


def _pay_at_once(request) -> Response | None:
    """The usual payment request, well formed and not waiting, in one database statement
    (`payment_submit_at_once`): queued with its idempotency record, answered 202. None if
    that did nothing; the claim, replay and refusal path then answers."""
    if request.query_params:
        return None
    key = well_formed_key(request)
    data = read_payment(request.data)
    if data is None or key is None:
        return None
    transfer = services.payment_submit_at_once(
        actor=request_actor(request),
        payer=data["payer"],
        payee=data["payee"],
        amount=data["amount"],
        idempotency_key=ledger_key(request, key),
        memo=data["memo"],
        record=services.RequestRecord(request.user.pk, key, request_fingerprint(request)),
    )
    if transfer is None:
        return None
    legs = [present.LegView(Asset.ECNY, data["payer"], data["payee"], data["amount"])]
    return Response(
        present.transfer(transfer, legs), status=202, headers={"Location": transfer_url(transfer)}
    )


class TransferBatchView(APIView):
    @extend_schema(
        summary="Pay in bulk: up to 1,000 payments from the caller's operator's wallets",
        description="Each item carries its own idempotency_key and is queued or refused on "
        "its own: `results[i].status` is 202 (queued), 200 (already queued under that key) "
        "or the status of its problem.\n\n"
        "**Linked chains.** An item with `linked: true` is linked to the next one; a chain is "
        "a run of linked items and the first item after them that is not linked. A chain is "
        "queued whole or refused whole (the refused member with its own problem, the others "
        "422 `LINKED_FAILED`), and settles whole or is rejected whole: if one member is "
        "rejected (say `INSUFFICIENT_FUNDS`), the others are rejected with `LINKED_FAILED` "
        "and no balance moves. Later members may spend what earlier ones bring in. A batch "
        "whose last item is linked is refused (400, `LINKED_CHAIN_OPEN`). A chain replays "
        "only as the same chain: reusing some of its keys elsewhere is "
        "`IDEMPOTENCY_CONFLICT`.",
        request=s.BatchIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={202: s.BatchOut, **problems(400, 403, 409, 413, 422)},
    )
    @idempotent
    def post(self, request):
        items = parse_batch(request.data)
        outcomes = services.payments_submit_many(
            actor=request_actor(request),
            payments=[
                services.PaymentSpec(
                    payer=item["payer"],
                    payee=item["payee"],
                    amount=item["amount"],
                    idempotency_key=ledger_key(request, item["idempotency_key"]),
                    memo=item["memo"],
                    linked=item["linked"],
                )
                for item in items
            ],
        )
        results = [
            present.batch_item(index, item["idempotency_key"], outcome)
            for index, (item, outcome) in enumerate(zip(items, outcomes, strict=True))
        ]
        accepted = sum(1 for result in results if result["problem"] is None)
        return Response(
            {"accepted": accepted, "refused": len(results) - accepted, "results": results},
            status=202,
        )


def visible_transfer(request, transfer_id: int) -> Transfer:
    transfers = selectors.transfers_visible_to(request_actor(request))
    return get_object_or_404(present.with_legs(transfers), pk=transfer_id)


class TransferView(APIView):
    @extend_schema(summary="One transfer", responses={200: s.TransferOut, **problems(404)})
    def get(self, request, transfer_id: int):
        return Response(s.TransferOut(visible_transfer(request, transfer_id)).data)


class TransferReceiptView(APIView):
    @extend_schema(
        summary="A receipt: proof that the settled transfer is in the signed audit log",
        description="Verify offline with `python -m settlement.audit.offline verify "
        "receipt.json --key <verifier key>`. A GET never seals a checkpoint: a transfer "
        "settled but not yet covered by one answers 409 NOT_CHECKPOINTED (checkpoints are "
        "sealed every EWALLET_CHECKPOINT_SECONDS, so ask again shortly); one not settled "
        "answers 409 INVALID_STATE.",
        responses={200: s.ReceiptOut, **problems(404, 409)},
    )
    def get(self, request, transfer_id: int):
        transfer = visible_transfer(request, transfer_id)
        return Response(proofs.transfer_receipt(transfer_id=transfer.pk))


# ---------------------------------------------------------------- central bank


def visible_issuance(request, issuance_id: int):
    return get_object_or_404(selectors.issuances_visible_to(request_actor(request)), pk=issuance_id)


def issuance_response(issuance, status: int = 200) -> Response:
    location = reverse("api:issuance", kwargs={"issuance_id": issuance.pk})
    return Response(s.IssuanceOut(issuance).data, status=status, headers={"Location": location})


class IssuancesView(APIView):
    @extend_schema(
        summary="Issuance and redemption requests (the central bank's, or one's operator's)",
        operation_id="issuances_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(s.IssuanceOut), **problems(400)},
    )
    def get(self, request):
        issuances = selectors.issuances_visible_to(request_actor(request))
        return page(self, request, issuances, s.IssuanceOut)

    @extend_schema(
        summary="Request an issuance or a redemption (the maker; cb_issuer)",
        request=s.IssuanceIn,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={201: s.IssuanceOut, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request):
        data = parse(s.IssuanceIn, request.data)
        operator = Operator.objects.filter(code=data["operator"].upper()).first()
        if operator is None:
            raise EwalletError(
                ErrorCode.NOT_FOUND, f"no operator {data['operator']}", field="operator"
            )
        issuance = services.issuance_request(
            actor=request_actor(request),
            operator=operator,
            amount=data["amount"],
            direction=data["direction"],
        )
        return issuance_response(issuance, status=201)


class IssuanceView(APIView):
    @extend_schema(summary="One issuance request", responses={200: s.IssuanceOut, **problems(404)})
    def get(self, request, issuance_id: int):
        return issuance_response(visible_issuance(request, issuance_id))


class IssuanceApproveView(APIView):
    @extend_schema(
        summary="Approve (the checker; cb_approver, never the maker): the ledger moves",
        request=None,
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={200: s.IssuanceOut, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, issuance_id: int):
        visible_issuance(request, issuance_id)
        issuance = services.issuance_approve(actor=request_actor(request), request_id=issuance_id)
        return issuance_response(issuance)


class IssuanceRejectView(APIView):
    @extend_schema(
        summary="Reject with a reason (the checker; cb_approver, never the maker)",
        request=s.RejectIn,
        responses={200: s.IssuanceOut, **problems(400, 403, 404, 409)},
    )
    def post(self, request, issuance_id: int):
        visible_issuance(request, issuance_id)
        data = parse(s.RejectIn, request.data)
        issuance = services.issuance_reject(
            actor=request_actor(request), request_id=issuance_id, reason=data["reason"]
        )
        return issuance_response(issuance)


class MoneySupplyView(APIView):
    @extend_schema(
        summary="e-CNY in circulation, its backing, by operator and by wallet class",
        responses={200: s.MoneySupplyOut, **problems(403)},
    )
    def get(self, request):
        supply = selectors.money_supply(actor=request_actor(request))
        return Response(s.MoneySupplyOut(supply).data)


# ---------------------------------------------------------------- audit (public)


class CheckpointsView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Signed checkpoints of the audit log, newest first",
        auth=[],
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(s.CheckpointOut), **problems(400, public=True)},
    )
    def get(self, request):
        return page(self, request, Checkpoint.objects.all(), s.CheckpointOut)


class LatestCheckpointView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="The latest signed head of the audit log",
        auth=[],
        responses={200: s.CheckpointOut, **problems(404, public=True)},
    )
    def get(self, request):
        latest = Checkpoint.objects.order_by("-height").first()
        if latest is None:
            raise EwalletError(ErrorCode.NOT_FOUND, "no checkpoint has been sealed yet")
        return Response(s.CheckpointOut(latest).data)


class SigningKeysView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="The central bank's checkpoint verifier keys (current and retired)",
        auth=[],
        responses={200: s.SigningKeyOut(many=True), **problems(public=True)},
    )
    def get(self, request):
        known = keys.verifiers().values()
        verifiers = {key.key_hash: verifier for verifier, key in known}
        signing_keys = [key for _, key in known]
        return Response(
            s.SigningKeyOut(signing_keys, many=True, context={"verifiers": verifiers}).data
        )


class ConsistencyQuery(serializers.Serializer):
    first = serializers.IntegerField(min_value=1, max_value=2**62)
    second = serializers.IntegerField(min_value=1, max_value=2**62)

    def validate(self, data):
        if data["first"] > data["second"]:
            raise serializers.ValidationError({"first": ["must not exceed second"]})
        return data


class ConsistencyView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="RFC 9162 consistency proof between two checkpointed sizes of the log",
        auth=[],
        parameters=[ConsistencyQuery],
        responses={200: s.ConsistencyOut, **problems(400, 409, public=True)},
    )
    def get(self, request):
        query = parse(ConsistencyQuery, request.query_params)
        return Response(
            s.ConsistencyOut(
                proofs.consistency_proof(first=query["first"], second=query["second"])
            ).data
        )
