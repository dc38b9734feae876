"""The console's home page: money in circulation, its backing, payments and rejections,
and the audit log's status, as charts (unfold's Chart.js components)."""

import json

from django.db.models import Count, Sum

from ewallet.money import format_fen
from wallets import selectors
from wallets.actors import request_actor
from wallets.console import selectors as console
from wallets.models import Operator, Wallet

# Wider bars and visible points than the theme's defaults (dataset options win over them).
BAR = {"maxBarThickness": 48, "borderRadius": 6}
POINTS = {"pointStyle": "circle", "pointRadius": 3}
# Chart colours: the theme's red, then tones that read on light and dark.
PALETTE = ["#dc2626", "#f59e0b", "#2563eb", "#16a34a", "#7c3aed", "#0891b2", "#db2777", "#65a30d"]


def yuan_number(fen: int) -> float:
    """Fen as a number of yuan for a chart axis only (labels use format_fen)."""
    return fen / 100


def grouped(amount: int) -> str:
    """1234567 fen -> "12,345.67"."""
    text = format_fen(amount)
    whole, _, cents = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{cents}"


def _chart(labels, datasets) -> str:
    return json.dumps({"labels": labels, "datasets": datasets})


def central_bank_context(actor) -> dict:
    supply = selectors.money_supply(actor=actor)
    totals = supply.totals
    over_time = console.circulation_over_time()
    throughput = console.payment_throughput()
    rejections = console.rejections_by_code()
    operators = supply.by_operator
    return {
        "circulation": grouped(totals.circulation),
        "circulation_fen": totals.circulation,
        "liability": grouped(-totals.issuance),
        "backing": grouped(totals.backing),
        "balanced": totals.balanced,
        "backing_ratio": (
            f"{totals.backing / totals.circulation:.2%}" if totals.circulation else "—"
        ),
        "chart_over_time": _chart(
            [day for day, _ in over_time],
            [
                {
                    "label": "e-CNY in circulation (CNY)",
                    "data": [yuan_number(total) for _, total in over_time],
                    "borderColor": PALETTE[0],
                    "backgroundColor": PALETTE[0],
                    "stepped": True,
                    **POINTS,
                }
            ],
        ),
        "chart_by_operator": _chart(
            [row.code for row in operators],
            [
                {
                    "label": "vault and wallets (CNY)",
                    "data": [yuan_number(row.circulation) for row in operators],
                    "backgroundColor": PALETTE[1],
                    **BAR,
                },
            ],
        ),
        "chart_by_class": _chart(
            [f"class {row['wallet_class']}" for row in supply.by_class],
            [
                {
                    "label": "in wallets (CNY)",
                    "data": [yuan_number(row["wallets"]) for row in supply.by_class],
                    "backgroundColor": PALETTE[2],
                    **BAR,
                }
            ],
        ),
        "chart_backing": _chart(
            ["circulation", "issuance liability", "reserve backing"],
            [
                {
                    "label": "CNY",
                    "data": [
                        yuan_number(totals.circulation),
                        yuan_number(-totals.issuance),
                        yuan_number(totals.backing),
                    ],
                    "backgroundColor": (
                        [PALETTE[3]] * 3
                        if totals.balanced
                        else [PALETTE[0], PALETTE[1], PALETTE[0]]
                    ),
                    **BAR,
                }
            ],
        ),
        "payments_per_second": f"{throughput.per_second:,.1f}",
        "backlog": throughput.backlog,
        "oldest_waiting": (
            None
            if throughput.oldest_waiting_seconds is None
            else f"{throughput.oldest_waiting_seconds:,.0f} s"
        ),
        "chart_payments": _chart(
            [minute for minute, _ in throughput.per_minute],
            [
                {
                    "label": "payments decided per minute",
                    "data": [n for _, n in throughput.per_minute],
                    "borderColor": PALETTE[2],
                    "backgroundColor": PALETTE[2],
                }
            ],
        ),
        "rejections_total": sum(n for _, n in rejections),
        "chart_rejections": _chart(
            [code for code, _ in rejections],
            [
                {
                    "label": "rejected transfers",
                    "data": [n for _, n in rejections],
                    "backgroundColor": PALETTE[0],
                    **BAR,
                }
            ],
        ),
        "operators_count": len(operators),
    }


def operator_context(operator_id: int) -> dict:
    operator = Operator.objects.select_related("vault_account", "reserve_account").get(
        pk=operator_id
    )
    wallets = Wallet.objects.filter(operator_id=operator_id)
    by_class = list(
        wallets.values("wallet_class_id")
        .annotate(n=Count("pk"), total=Sum("account__balance"))
        .order_by("wallet_class_id")
    )
    return {
        "operator": operator,
        "vault": grouped(operator.vault_account.balance),
        "in_wallets": grouped(sum(row["total"] or 0 for row in by_class)),
        "wallet_count": sum(row["n"] for row in by_class),
        "chart_operator_classes": _chart(
            [f"class {row['wallet_class_id']}" for row in by_class],
            [
                {
                    "label": "in wallets (CNY)",
                    "data": [yuan_number(row["total"] or 0) for row in by_class],
                    "backgroundColor": PALETTE[0],
                    **BAR,
                }
            ],
        ),
    }


def merchant_context(actor) -> dict:
    """A merchant's staff: what their merchant holds and has been paid."""
    merchant = (
        selectors.merchants_visible_to(actor)
        .select_related("settlement_wallet__account")
        .get(pk=actor.merchant_id)
    )
    payments = selectors.merchant_payments_visible_to(actor).filter(merchant=merchant)
    return {
        "merchant": merchant,
        "balance": grouped(merchant.settlement_wallet.account.balance),
        "balance_fen": merchant.settlement_wallet.account.balance,
        "payments": payments.count(),
    }


def dashboard_callback(request, context: dict) -> dict:
    who = request_actor(request)
    if who.is_central_bank:
        context["bank"] = central_bank_context(who)
        context["audit"] = console.latest_checkpoint_status()
        context["verification"] = console.latest_verification()
    elif who.operator_id is not None:
        context["mine"] = operator_context(who.operator_id)
    elif who.merchant_id is not None:
        context["shop"] = merchant_context(who)
    return context
