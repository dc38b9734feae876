"""Consumption vouchers over /api/v1/, read-only: the programmes (their terms are public to
every signed-in caller) with their totals, and the vouchers of a wallet (for whoever sees
the wallet). Setting programmes up, funding, applying and drawing are services the console
and the load runs call; no API writes them yet."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from wallets import selectors
from wallets.actors import request_actor
from wallets.api.fields import Instant, Yuan
from wallets.api.schema import PAGE_PARAMETERS, page_of, problems
from wallets.api.views import page, visible_wallet
from wallets.models import VoucherProgrammeStatus


class VoucherProgrammeOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    government_wallet = serializers.CharField(
        source="government_wallet.number", help_text="funds it; gets back what is unspent"
    )
    status = serializers.ChoiceField(choices=VoucherProgrammeStatus.choices)
    total = Yuan()
    total_fen = serializers.IntegerField(source="total")
    voucher_amount = Yuan()
    voucher_amount_fen = serializers.IntegerField(source="voucher_amount")
    count = serializers.IntegerField(help_text="at most this many winners")
    mccs = serializers.ListField(child=serializers.CharField(), help_text="allowed categories")
    regions = serializers.ListField(child=serializers.CharField(), help_text="allowed regions")
    valid_from = Instant()
    valid_until = Instant()
    seed = serializers.IntegerField(help_text="the lottery's: anyone can draw it again")
    drawn_at = Instant(allow_null=True)
    closed_at = Instant(allow_null=True)


class VoucherTotalsOut(serializers.Serializer):
    funded_fen = serializers.IntegerField(source="funded")
    granted_fen = serializers.IntegerField(source="granted")
    spent_fen = serializers.IntegerField(source="spent")
    returned_fen = serializers.IntegerField(source="returned")
    returned_to_government_fen = serializers.IntegerField(source="returned_to_government")
    outstanding_fen = serializers.IntegerField(source="outstanding")
    winners = serializers.IntegerField()


class VoucherProgrammeDetailOut(VoucherProgrammeOut):
    totals = VoucherTotalsOut(help_text="read from the ledger's settled transfers")


class WalletVoucherOut(serializers.Serializer):
    id = serializers.IntegerField()
    programme = serializers.IntegerField(source="programme_id")
    programme_name = serializers.CharField(source="programme.name")
    amount = Yuan(help_text="granted")
    amount_fen = serializers.IntegerField(source="amount")
    balance = Yuan(source="account.balance", help_text="left to spend")
    balance_fen = serializers.IntegerField(source="account.balance")
    valid_from = Instant(source="programme.valid_from")
    valid_until = Instant(source="programme.valid_until")
    granted_at = Instant()


class VoucherProgrammesView(APIView):
    @extend_schema(
        summary="Voucher programmes, newest first",
        description="Their terms are public: every signed-in caller sees every programme.",
        operation_id="voucher_programmes_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(VoucherProgrammeOut), **problems(400)},
    )
    def get(self, request):
        programmes = selectors.voucher_programmes_visible_to(request_actor(request))
        return page(self, request, programmes, VoucherProgrammeOut)


class VoucherProgrammeView(APIView):
    @extend_schema(
        summary="One voucher programme with its totals",
        responses={200: VoucherProgrammeDetailOut, **problems(404)},
    )
    def get(self, request, programme_id: int):
        programme = get_object_or_404(
            selectors.voucher_programmes_visible_to(request_actor(request)), pk=programme_id
        )
        programme.totals = selectors.voucher_programme_totals(programme)
        return Response(VoucherProgrammeDetailOut(programme).data)


class WalletVouchersView(APIView):
    @extend_schema(
        summary="A wallet's vouchers and what is left on each",
        description="For whoever sees the wallet: its holder, its operator's staff, the "
        "central bank; 404 for anyone else.",
        operation_id="wallet_vouchers_list",
        parameters=PAGE_PARAMETERS,
        responses={200: page_of(WalletVoucherOut), **problems(400, 404)},
    )
    def get(self, request, number: str):
        wallet = visible_wallet(request, number)
        grants = selectors.wallet_vouchers(actor=request_actor(request), wallet=wallet)
        return page(self, request, grants, WalletVoucherOut)
