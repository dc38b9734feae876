"""Merchant acquiring's pages: merchants (registered, suspended and reinstated by their
acquiring operator, which also enrols their staff), their QR payment requests with the code
to show, the payments made to them and the refunds they give back.

Each role sees its scope through the selectors: the central bank every merchant, an
operator's staff their operator's merchants, a merchant's staff their own merchant. The
central bank only looks; the operator registers and enrols; the merchant's staff ask for
payments and refund them.
"""

from datetime import timedelta

import segno
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html, format_html_join
from unfold.decorators import action, display

from ewallet.errors import EwalletError
from settlement.models import Transfer
from wallets import authority, selectors, services
from wallets.actors import Actor
from wallets.catalogue import MERCHANT_CATEGORIES, REGIONS
from wallets.console import forms
from wallets.console.base import ConsoleAdmin, ReadOnlyAdmin, actor, admin_url, nonce_form, yuan
from wallets.models import (
    Merchant,
    MerchantPayment,
    MerchantStatus,
    PaymentRequest,
    Refund,
    Wallet,
)

TRANSFER_STATE_LABELS = {"RECEIVED": "info", "SETTLED": "success", "REJECTED": "danger"}
REQUEST_STATE_LABELS = {
    services.RequestState.OPEN: "info",
    services.RequestState.PENDING: "warning",
    services.RequestState.PAID: "success",
    services.RequestState.CANCELLED: "danger",
}


def qr_image(payload: str) -> str:
    """The payload as a QR code: a PNG data: URI drawn here (nothing is fetched)."""
    return segno.make(payload, error="m").png_data_uri(scale=5, border=2)


def own_merchant(who: Actor) -> Merchant | None:
    """The merchant a merchant's staff work for; None for everyone else."""
    if who.merchant_id is None:
        return None
    return selectors.merchants_visible_to(who).filter(pk=who.merchant_id).first()


# Links drawn here look like the ones the admin draws for related rows.
LINK_CLASS = "text-primary-600 dark:text-primary-500"


def link(url: str, text) -> str:
    return format_html('<a class="{}" href="{}">{}</a>', LINK_CLASS, url, text)


def transfer_link(transfer: Transfer) -> str:
    return link(admin_url(Transfer, "change", transfer.pk), f"#{transfer.pk}")


def username(user) -> str:
    """A login's name, unlinked: the user pages are for superusers."""
    return "—" if user is None else user.get_username()


def transfer_state(transfer: Transfer) -> str:
    return f"{transfer.state} {transfer.reject_code}".strip()


# ---------------------------------------------------------------- merchants


@admin.register(Merchant)
class MerchantAdmin(ConsoleAdmin):
    list_display = [
        "name",
        "code",
        "category",
        "region_name",
        "status_badge",
        "wallet_link",
        "balance_yuan",
    ]
    list_filter = ["status"]
    search_fields = ["name", "code"]
    ordering = ["name"]
    fields = [
        "name",
        "code",
        "acquirer",
        "category",
        "region_name",
        "status_badge",
        "wallet_link",
        "balance_yuan",
        "staff_logins",
        "created_at",
    ]
    readonly_fields = fields
    actions_detail = ["enrol_staff", "suspend", "reinstate"]

    def get_queryset(self, request):
        return selectors.merchants_visible_to(actor(request)).select_related(
            "settlement_wallet__account"
        )

    def get_list_filter(self, request):
        if actor(request).is_central_bank:
            return [*self.list_filter, "operator"]
        return self.list_filter

    @display(description="acquiring operator")
    def acquirer(self, obj):
        return f"{obj.operator.code} ({obj.operator.name})"  # unlinked: operators are the bank's

    @display(description="category (MCC)", ordering="mcc")
    def category(self, obj):
        return f"{obj.mcc} {MERCHANT_CATEGORIES.get(obj.mcc, '')}".strip()

    @display(description="region", ordering="region")
    def region_name(self, obj):
        return f"{obj.region} {REGIONS.get(obj.region, '')}".strip()

    @display(description="status", label={"ACTIVE": "success", "SUSPENDED": "danger"})
    def status_badge(self, obj):
        return obj.status

    @display(description="settlement wallet", ordering="settlement_wallet__number")
    def wallet_link(self, obj):
        wallet = obj.settlement_wallet
        return link(admin_url(Wallet, "change", wallet.pk), wallet)

    @display(description="balance (CNY)", ordering="settlement_wallet__account__balance")
    def balance_yuan(self, obj):
        return yuan(obj.settlement_wallet.account.balance)

    @display(description="staff logins")
    def staff_logins(self, obj):
        names = obj.staff.order_by("pk").values_list("user__username", flat=True)
        return ", ".join(names) or "—"

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # status changes and staff are the actions below

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _operates(self, request, object_id, permission: str) -> bool:
        """A button shows to a role whose group has the permission and, on a row, to the
        merchant's operator (wallets.authority); the service still decides."""
        self.visible(request, object_id)
        if not request.user.has_perm(permission):
            return False
        if object_id is None:
            return True
        return authority.operates_merchant(actor(request), self.get_object(request, object_id))

    def has_staff_permission(self, request, object_id=None) -> bool:
        return self._operates(request, object_id, "wallets.add_merchant")

    def has_status_permission(self, request, object_id=None) -> bool:
        return self._operates(request, object_id, "wallets.change_merchant")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        who = actor(request)

        def perform(data):
            merchant = services.merchant_register(actor=who, **data)
            return (
                f"merchant {merchant.name} ({merchant.code}) registered at "
                f"{merchant.operator.code}: merchant wallet {merchant.settlement_wallet.number}",
                self.url("change", merchant.pk),
                merchant,
            )

        return self.run_form(
            request,
            forms.MerchantRegisterForm,
            perform,
            title="Register a merchant at your operator",
            submit_label="Register",
            intro="Records the business's KYC at your operator (the licence number is stored "
            "masked), opens its merchant wallet, and files its category and region.",
            cancel_url=self.url("changelist"),
        )

    @action(
        description="Enrol merchant staff", url_path="staff", permissions=["staff"], icon="badge"
    )
    def enrol_staff(self, request, object_id):
        """A login of the merchant's own: its API token is shown on the answer page once and
        kept nowhere, and with a username and password it also signs in here."""
        merchant = self.scoped_object(request, object_id)
        form = forms.MerchantStaffForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                secret, token = services.merchant_staff_enrol(
                    actor=actor(request),
                    merchant=merchant,
                    name=data["name"],
                    username=data["username"],
                    password=data["password"],
                    ttl=timedelta(days=data["ttl_days"]) if data["ttl_days"] else None,
                )
            except EwalletError as error:
                form.add_error(None, f"{error.code}: {error.message}")
            else:
                username = token.user.get_username()
                self.log_change(
                    request, merchant, f"staff login {username} enrolled ({token.prefix}…)"
                )
                console = ""
                if data["username"]:
                    console = "It signs in to the console with the password you gave. "
                return self.secret_page(
                    request,
                    title=f"Staff of {merchant.name} enrolled",
                    intro=f"{console}Give this API token to the merchant now: it is shown once "
                    f"and stored only as a hash. It expires {token.expires_at or 'never'}.",
                    facts=[("merchant", merchant.name), ("username", username), ("token", secret)],
                    back_url=self.url("change", merchant.pk),
                )
        return self.form_page(
            request,
            title=f"Enrol staff of {merchant.name}",
            form=form,
            submit_label="Enrol",
            intro="The login sees this merchant's requests, payments and refunds only, and acts "
            "for it. A password for the console is checked by the password rules; the staff "
            "change it after signing in.",
            cancel_url=self.url("change", merchant.pk),
        )

    def _set_status(self, request, object_id, status: MerchantStatus, verb: str):
        merchant = self.scoped_object(request, object_id)

        def perform(data):
            services.merchant_set_status(actor=actor(request), merchant=merchant, status=status)
            return f"merchant {merchant.name} {verb}", self.url("change", merchant.pk), merchant

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"{verb.capitalize()} {merchant.name}",
            submit_label=verb.capitalize(),
            intro="A suspended merchant's codes are refused and it asks for no new payments; "
            "refunds of what it was paid still go out.",
            facts=[("merchant", merchant.code), ("status now", merchant.get_status_display())],
            cancel_url=self.url("change", merchant.pk),
        )

    @action(description="Suspend", url_path="suspend", permissions=["status"], icon="block")
    def suspend(self, request, object_id):
        return self._set_status(request, object_id, MerchantStatus.SUSPENDED, "suspended")

    @action(description="Reinstate", url_path="reinstate", permissions=["status"], icon="check")
    def reinstate(self, request, object_id):
        return self._set_status(request, object_id, MerchantStatus.ACTIVE, "reinstated")


# ---------------------------------------------------------------- payment requests


@admin.register(PaymentRequest)
class PaymentRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "merchant",
        "kind",
        "state_badge",
        "amount_yuan",
        "order_reference",
        "expires_at",
        "created_at",
    ]
    list_filter = ["kind"]
    search_fields = ["code", "order_reference", "memo"]
    ordering = ["-created_at", "-pk"]
    # The code to show comes first: it is what the page is for at the till.
    fields = [
        "merchant",
        "state_badge",
        "amount_yuan",
        "order_reference",
        "expires_at",
        "qr_code",
        "payload",
        "payments_made",
        "code",
        "kind",
        "memo",
        "created_by_name",
        "created_at",
        "cancelled_at",
    ]
    readonly_fields = fields
    actions_list = ["new_request", "new_collection_code"]
    actions_detail = ["cancel_request"]

    def get_queryset(self, request):
        # The state as a column: one query for the page, not one per row.
        return selectors.payment_requests_with_state(actor(request))

    def get_list_filter(self, request):
        if actor(request).merchant_id is None:
            # Only the merchants in the list: a plain filter would name every merchant.
            return [*self.list_filter, ("merchant", admin.RelatedOnlyFieldListFilter)]
        return self.list_filter

    @display(description="state", label=REQUEST_STATE_LABELS, ordering="state")
    def state_badge(self, obj):
        return obj.state

    @display(description="amount (CNY)", ordering="amount")
    def amount_yuan(self, obj):
        return yuan(obj.amount) if obj.amount is not None else "the payer's"

    @display(description="created by")
    def created_by_name(self, obj):
        return username(obj.created_by)

    @display(description="QR code")
    def qr_code(self, obj):
        return format_html(
            '<img id="request-qr" src="{}" alt="QR code of {}" width="240" height="240">',
            qr_image(services.request_payload(obj)),
            obj.code,
        )

    @display(description="payload (what the code carries)")
    def payload(self, obj):
        return format_html(
            '<code id="request-payload" style="word-break:break-all">{}</code>',
            services.request_payload(obj),
        )

    @display(description="payments")
    def payments_made(self, obj):
        payments = obj.payments.select_related("transfer", "payer_wallet").order_by("pk")
        return (
            format_html_join(
                ", ",
                '<a class="{}" href="{}">#{} {} CNY from {}: {}</a>',
                (
                    (
                        LINK_CLASS,
                        admin_url(MerchantPayment, "change", payment.pk),
                        payment.transfer_id,
                        yuan(payment.amount),
                        payment.payer_wallet.number,
                        transfer_state(payment.transfer),
                    )
                    for payment in payments
                ),
            )
            or "—"
        )

    def has_ask_permission(self, request, object_id=None) -> bool:
        """New requests and codes: a merchant's staff, for their own merchant."""
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.add_paymentrequest"):
            return False
        who = actor(request)
        merchant = own_merchant(who)
        return merchant is not None and authority.acts_for_merchant(who, merchant)

    def has_cancel_permission(self, request, object_id=None) -> bool:
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.change_paymentrequest"):
            return False
        if object_id is None:
            return True
        return authority.acts_for_merchant(
            actor(request), self.get_object(request, object_id).merchant
        )

    @action(
        description="New payment request", url_path="new", permissions=["ask"], icon="qr_code_2"
    )
    def new_request(self, request):
        who = actor(request)
        merchant = own_merchant(who)

        def perform(data):
            minutes = data["expires_in_minutes"]
            made = services.payment_request_create(
                actor=who,
                merchant=merchant,
                amount=data["amount"],
                order_reference=data["order_reference"],
                memo=data["memo"],
                expires_in=timedelta(minutes=minutes) if minutes else None,
            )
            return (
                f"payment request {made.code} for {yuan(made.amount)} CNY made: show its code "
                "to the payer",
                self.url("change", made.pk),
                made,
            )

        return self.run_form(
            request,
            forms.PaymentRequestForm,
            perform,
            title=f"New payment request of {merchant.name}",
            submit_label="Make the code",
            intro="A dynamic code for one amount and order: paid once, before it expires.",
            cancel_url=self.url("changelist"),
        )

    @action(
        description="New collection code",
        url_path="collection",
        permissions=["ask"],
        icon="qr_code",
    )
    def new_collection_code(self, request):
        who = actor(request)
        merchant = own_merchant(who)

        def perform(data):
            made = services.collection_code_create(actor=who, merchant=merchant, memo=data["memo"])
            return (
                f"collection code {made.code} made: print it for the till",
                self.url("change", made.pk),
                made,
            )

        return self.run_form(
            request,
            forms.CollectionCodeForm,
            perform,
            title=f"New collection code of {merchant.name}",
            submit_label="Make the code",
            intro="A static code (a printed QR at the till): the payer enters the amount; it "
            "is paid any number of times until cancelled.",
            cancel_url=self.url("changelist"),
        )

    @action(description="Cancel", url_path="cancel", permissions=["cancel"], icon="cancel")
    def cancel_request(self, request, object_id):
        payment_request = self.scoped_object(request, object_id)

        def perform(data):
            services.payment_request_cancel(actor=actor(request), request=payment_request)
            return (
                f"payment request {payment_request.code} cancelled",
                self.url("change", payment_request.pk),
                payment_request,
            )

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"Cancel payment request {payment_request.code}",
            submit_label="Cancel the code",
            intro="A cancelled code is refused when scanned; a paid one stays paid.",
            facts=[
                ("kind", payment_request.get_kind_display()),
                ("amount", f"{self.amount_yuan(payment_request)} CNY"),
                ("order", payment_request.order_reference or "—"),
                ("state", services.request_state(payment_request)),
            ],
            cancel_url=self.url("change", payment_request.pk),
        )


# ---------------------------------------------------------------- payments and refunds


@admin.register(MerchantPayment)
class MerchantPaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "transfer_id_link",
        "merchant",
        "request",
        "order",
        "payer",
        "amount_yuan",
        "transfer_state_badge",
        "refunded_yuan",
        "created_at",
    ]
    list_filter = ["transfer__state"]
    search_fields = ["=transfer__id", "request__code", "request__order_reference"]
    ordering = ["-pk"]
    fields = [
        "transfer_id_link",
        "merchant",
        "request",
        "order",
        "payer",
        "amount_yuan",
        "transfer_state_badge",
        "refunded_yuan",
        "refunds_given",
        "created_at",
    ]
    readonly_fields = fields
    actions_detail = ["refund"]

    def get_queryset(self, request):
        return selectors.merchant_payments_with_refunds(actor(request))

    @display(description="transfer", ordering="transfer_id")
    def transfer_id_link(self, obj):
        return transfer_link(obj.transfer)

    @display(description="payer wallet", ordering="payer_wallet__number")
    def payer(self, obj):
        return obj.payer_wallet.number  # unlinked: the merchant does not see the payer's wallet

    @display(description="order", ordering="request__order_reference")
    def order(self, obj):
        return obj.request.order_reference or "—"

    @display(description="amount (CNY)", ordering="amount")
    def amount_yuan(self, obj):
        return yuan(obj.amount)

    @display(description="transfer state", label=TRANSFER_STATE_LABELS)
    def transfer_state_badge(self, obj):
        return obj.transfer.state

    @display(description="refunded so far (CNY)", ordering="refunded")
    def refunded_yuan(self, obj):
        # What refund_create counts: every refund of it that was not rejected.
        return yuan(obj.refunded)

    @display(description="refunds")
    def refunds_given(self, obj):
        refunds = Refund.objects.filter(original_id=obj.transfer_id).select_related("transfer")
        return (
            format_html_join(
                ", ",
                '<a class="{}" href="{}">#{} {} CNY: {}</a>',
                (
                    (
                        LINK_CLASS,
                        admin_url(Refund, "change", refund.pk),
                        refund.transfer_id,
                        yuan(refund.amount),
                        transfer_state(refund.transfer),
                    )
                    for refund in refunds.order_by("pk")
                ),
            )
            or "—"
        )

    def has_refund_permission(self, request, object_id=None) -> bool:
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.add_refund"):
            return False
        if object_id is None:
            return True
        return authority.acts_for_merchant(
            actor(request), self.get_object(request, object_id).merchant
        )

    @action(description="Refund", url_path="refund", permissions=["refund"], icon="undo")
    def refund(self, request, object_id):
        payment = self.scoped_object(request, object_id)

        def perform(data):
            refund = services.refund_create(
                actor=actor(request),
                original=payment.transfer,
                amount=data["amount"],
                reason=data["reason"],
                # One key per form shown: a second submit of the same form refunds once.
                idempotency_key=f"console:{request.user.pk}:refund:{request.POST['nonce']}",
            )
            return (
                f"refund of {yuan(refund.amount)} CNY on payment #{payment.transfer_id} "
                f"submitted as transfer #{refund.transfer_id}",
                self.url("change", payment.pk),
                payment,
                refund,
            )

        return self.run_form(
            request,
            nonce_form(forms.RefundForm),
            perform,
            title=f"Refund payment #{payment.transfer_id}",
            submit_label="Refund",
            intro="The refund goes from the merchant's wallet back to the wallet that paid. "
            "The refunds of a payment never add up to more than it.",
            facts=[
                ("order", self.order(payment)),
                ("paid from", payment.payer_wallet.number),
                ("paid", f"{yuan(payment.amount)} CNY"),
                ("left to refund", f"{yuan(services.refundable(payment.transfer))} CNY"),
                ("transfer state", transfer_state(payment.transfer)),
            ],
            cancel_url=self.url("change", payment.pk),
        )


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = [
        "transfer_id_link",
        "merchant",
        "payment",
        "amount_yuan",
        "transfer_state_badge",
        "reason",
        "created_by_name",
        "created_at",
    ]
    list_filter = ["transfer__state"]
    search_fields = ["=transfer__id", "=original__id", "reason"]
    ordering = ["-pk"]
    fields = list_display
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.refunds_visible_to(actor(request)).select_related("created_by")

    @display(description="refund transfer", ordering="transfer_id")
    def transfer_id_link(self, obj):
        return transfer_link(obj.transfer)

    @display(description="payment refunded", ordering="original_id")
    def payment(self, obj):
        payment = MerchantPayment.objects.filter(transfer_id=obj.original_id).only("pk").first()
        return link(admin_url(MerchantPayment, "change", payment.pk), f"#{obj.original_id}")

    @display(description="amount (CNY)", ordering="amount")
    def amount_yuan(self, obj):
        return yuan(obj.amount)

    @display(description="state", label=TRANSFER_STATE_LABELS)
    def transfer_state_badge(self, obj):
        return obj.transfer.state

    @display(description="by")
    def created_by_name(self, obj):
        return username(obj.created_by)
