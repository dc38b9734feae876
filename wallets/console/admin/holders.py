"""Operators' pages: holders (KYC at one operator), wallets with load, unload and close,
freeze orders with who gave and lifted them, and each wallet's status history."""

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from unfold.decorators import action, display

from ewallet.errors import ErrorCode, EwalletError
from wallets import authority, selectors, services
from wallets.console import forms
from wallets.console.admin.disclosures import disclosure_request_url
from wallets.console.base import ConsoleAdmin, ReadOnlyAdmin, actor, admin_url, nonce_form, yuan
from wallets.exceptions import WalletError
from wallets.models import FreezeOrder, Holder, Wallet, WalletStatusChange

STATUS_LABELS = {
    "ACTIVE": "success",
    "RECEIVE_ONLY": "warning",
    "FROZEN": "danger",
    "CLOSED": "info",
}


@admin.register(Holder)
class HolderAdmin(ConsoleAdmin):
    # Names and phone numbers as this viewer may see them (the selector's annotations):
    # shown, searched and sorted by those, never by the raw columns (a column's name here
    # would show the column, whatever a method of the same name says).
    list_display = ["holder_name", "operator", "kind", "kyc_method", "phone_number", "wallets_here"]
    list_filter = ["kind", "kyc_method"]
    search_fields = ["name_shown", "phone_shown", "pseudonym"]
    fields = [
        "holder_name",
        "operator",
        "kind",
        "pseudonym",
        "kyc_method",
        "phone_number",
        "id_number_masked",
        "bank_account_masked",
        "identity_link",
        "kyc_verified_at",
        "wallets_here",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.holders_with_identity_shown(actor(request))

    def get_object(self, request, object_id, from_field=None):
        holder = super().get_object(request, object_id, from_field)
        if holder is not None and not actor(request).sees_identity_of(holder):
            # Whatever on the page reads the row's fields (a title, a template, an action's
            # facts) finds only what the viewer may see, and the masked numbers are numbers
            # too: this copy is never saved (the page edits nothing).
            holder.display_name, holder.phone = holder.pseudonym, ""
            holder.id_number_masked = holder.bank_account_masked = ""
        return holder

    def get_list_filter(self, request):
        if actor(request).is_central_bank:
            return [*self.list_filter, "operator"]
        return self.list_filter

    def get_fields(self, request, obj=None):
        if authority.sees_identity_links(actor(request)):
            return self.fields
        return [name for name in self.fields if name != "identity_link"]

    @display(description="holder", ordering="name_shown")
    def holder_name(self, obj):
        return obj.name_shown

    @display(description="phone", ordering="phone_shown")
    def phone_number(self, obj):
        return obj.phone_shown or "—"

    @display(description="wallets")
    def wallets_here(self, obj):
        return ", ".join(obj.wallets.order_by("pk").values_list("number", flat=True)) or "—"

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    actions_detail = ["enrol_device", "request_disclosure"]

    def has_disclose_permission(self, request, object_id=None) -> bool:
        """ "Request disclosure": central-bank issuers, on an anonymous holder's page."""
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.add_identitydisclosure"):
            return False
        return object_id is None or self.get_object(request, str(object_id)).is_anonymous

    @action(
        description="Request disclosure",
        url_path="disclose",
        permissions=["disclose"],
        icon="person_search",
    )
    def request_disclosure(self, request, object_id):
        holder = self.scoped_object(request, object_id)
        return HttpResponseRedirect(disclosure_request_url(holder))

    def has_device_permission(self, request, object_id=None) -> bool:
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.add_holder"):
            return False
        if object_id is None:
            return True
        return authority.operates_holder(actor(request), self.get_object(request, object_id))

    @action(
        description="Enrol a device", url_path="device", permissions=["device"], icon="smartphone"
    )
    def enrol_device(self, request, object_id):
        """The holder's wallet-app device gets a token of the holder's. Its secret is shown
        on the answer page once, and kept nowhere: not in messages, not in the history."""
        holder = self.scoped_object(request, object_id)
        page = {
            "title": f"Enrol a device for holder {holder.pseudonym}",
            "cancel_url": self.url("change", holder.pk),
        }
        form = forms.DeviceForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            ttl_days = form.cleaned_data["ttl_days"]
            try:
                secret, token = services.holder_device_enrol(
                    actor=actor(request),
                    holder=holder,
                    name=form.cleaned_data["name"],
                    ttl=timedelta(days=ttl_days) if ttl_days else None,
                )
            except EwalletError as error:
                form.add_error(None, f"{error.code}: {error.message}")
            else:
                self.log_change(
                    request, holder, f"device '{token.name}' enrolled ({token.prefix}…)"
                )
                return self.secret_page(
                    request,
                    title=f"Device '{token.name}' enrolled",
                    intro="Give this token to the holder's wallet app now: it is shown once "
                    "and stored only as a hash. The holder can revoke it, and it expires "
                    f"{token.expires_at or 'never'}.",
                    facts=[("holder", holder.pseudonym), ("token", secret)],
                    back_url=self.url("change", holder.pk),
                )
        return self.form_page(request, form=form, submit_label="Enrol", **page)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        who = actor(request)

        def perform(data):
            wallet = services.holder_onboard(actor=who, **form_holder_fields(data))
            # By pseudonym: the message is kept in the rows' history, which the central
            # bank reads, and it knows anonymous holders by pseudonym only.
            return (
                f"holder {wallet.holder.pseudonym} onboarded at {wallet.operator.code}: "
                f"class {wallet.wallet_class_id} wallet {wallet.number}",
                self.url("change", wallet.holder_id),
                wallet.holder,
                wallet,
            )

        return self.run_form(
            request,
            forms.HolderOnboardForm,
            perform,
            title="Onboard a holder at your operator",
            submit_label="Open wallet",
            intro="Records the KYC evidence at your operator (numbers are stored masked) and "
            "opens a first wallet; the class defaults to the strongest the evidence allows.",
            cancel_url=self.url("changelist"),
        )


def form_holder_fields(data: dict) -> dict:
    data = dict(data)
    klass = data.pop("wallet_class")
    return {"wallet_class": int(klass) if klass else None, **data}


@admin.register(Wallet)
class WalletAdmin(ConsoleAdmin):
    list_display = [
        "number",
        "holder_name",
        "operator",
        "wallet_class",
        "kind",
        "balance_yuan",
        "status_badge",
        "created_at",
    ]
    list_filter = ["account__status", "wallet_class", "kind", "operator"]
    search_fields = ["number"]
    ordering = ["-pk"]
    fields = [
        "number",
        "holder_name",
        "operator",
        "wallet_class",
        "kind",
        "balance_yuan",
        "status_badge",
        "freezes_in_force",
        "limits",
        "created_at",
    ]
    readonly_fields = fields
    actions_detail = ["load", "unload", "freeze", "close"]

    def get_queryset(self, request):
        return selectors.wallets_with_holder_shown(actor(request))

    def get_list_filter(self, request):
        if actor(request).is_central_bank:
            return self.list_filter
        return [name for name in self.list_filter if name != "operator"]

    @display(description="holder")
    def holder_name(self, obj):
        return obj.holder_shown

    @display(description="balance (CNY)", ordering="account__balance")
    def balance_yuan(self, obj):
        return yuan(obj.account.balance)

    @display(description="status", label=STATUS_LABELS)
    def status_badge(self, obj):
        return obj.account.status

    @display(description="freeze orders in force")
    def freezes_in_force(self, obj):
        orders = obj.freeze_orders.filter(lifted_at__isnull=True).order_by("pk")
        return (
            "; ".join(
                f"#{order.pk} {order.get_scope_display()} by the "
                f"{order.get_authority_display().lower()}: {order.reason}"
                for order in orders
            )
            or "none"
        )

    @display(description="limits (CNY)")
    def limits(self, obj):
        account = obj.account
        return (
            f"balance cap {yuan(account.balance_cap)}, single {yuan(account.single_limit)}, "
            f"daily {yuan(account.daily_limit)}, annual {yuan(account.annual_limit)}"
        )

    def has_add_permission(self, request) -> bool:
        return False  # wallets are opened by onboarding a holder

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the row is the ledger's; actions below move money

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _shows(self, request, object_id, permission: str, rule) -> bool:
        """A button shows to a role whose group has the page's permission and, on a row,
        to whom the rule of wallets.authority gives it; the service still decides."""
        self.visible(request, object_id)
        if not request.user.has_perm(permission):
            return False
        if object_id is None:
            return True
        return rule(actor(request), self.get_object(request, str(object_id)))

    def has_move_permission(self, request, object_id=None) -> bool:
        return self._shows(request, object_id, "wallets.change_wallet", authority.operates_wallet)

    def has_freeze_permission(self, request, object_id=None) -> bool:
        return self._shows(
            request,
            object_id,
            "wallets.add_freezeorder",
            lambda who, wallet: authority.freeze_authority(who, wallet) is not None,
        )

    def _move(self, request, object_id, service, verb: str):
        wallet = self.scoped_object(request, object_id)

        def perform(data):
            transfer = service(
                actor=actor(request),
                wallet=wallet,
                amount=data["amount"],
                idempotency_key=f"console:{request.user.pk}:{verb}:{request.POST['nonce']}",
            )
            return (
                f"{verb} of {yuan(data['amount'])} CNY submitted as transfer #{transfer.pk}",
                self.url("change", wallet.pk),
                wallet,
            )

        return self.run_form(
            request,
            nonce_form(forms.AmountForm),
            perform,
            title=f"{verb.capitalize()} wallet {wallet.number}",
            submit_label=verb.capitalize(),
            facts=[("holder", self.holder_name(wallet)), ("balance", yuan(wallet.balance))],
            cancel_url=self.url("change", wallet.pk),
        )

    @action(description="Load", url_path="load", permissions=["move"], icon="add_card")
    def load(self, request, object_id):
        return self._move(request, object_id, services.wallet_load, "load")

    @action(description="Unload", url_path="unload", permissions=["move"], icon="credit_card_off")
    def unload(self, request, object_id):
        return self._move(request, object_id, services.wallet_unload, "unload")

    @action(description="Freeze order", url_path="freeze", permissions=["freeze"], icon="ac_unit")
    def freeze(self, request, object_id):
        wallet = self.scoped_object(request, object_id)
        url = admin_url(FreezeOrder, "add")
        return HttpResponseRedirect(f"{url}?wallet={wallet.number}")

    @action(description="Close", url_path="close", permissions=["move"], icon="block")
    def close(self, request, object_id):
        wallet = self.scoped_object(request, object_id)

        def perform(data):
            services.wallet_close(actor=actor(request), wallet=wallet, reason=data["reason"])
            return f"wallet {wallet.number} closed", self.url("change", wallet.pk), wallet

        return self.run_form(
            request,
            forms.ReasonForm,
            perform,
            title=f"Close wallet {wallet.number}",
            submit_label="Close for good",
            intro="Only an empty wallet under no freeze order closes; a closed wallet never "
            "pays or receives again.",
            facts=[("holder", self.holder_name(wallet)), ("balance", yuan(wallet.balance))],
            cancel_url=self.url("change", wallet.pk),
        )


@admin.register(FreezeOrder)
class FreezeOrderAdmin(ConsoleAdmin):
    list_display = [
        "ordered_at",
        "wallet",
        "authority",
        "operator",
        "scope",
        "reason",
        "ordered_by",
        "in_force_badge",
        "lifted_at",
        "lifted_by",
        "lift_reason",
    ]
    list_filter = ["authority", "scope", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["wallet__number", "reason"]
    ordering = ["-ordered_at", "-pk"]
    fields = list_display
    readonly_fields = fields
    actions_detail = ["lift"]

    def get_queryset(self, request):
        return selectors.freeze_orders_visible_to(actor(request))

    @display(description="in force", label={"in force": "danger", "lifted": "success"})
    def in_force_badge(self, obj):
        return "in force" if obj.in_force else "lifted"

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # lifting is the action below

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_lift_permission(self, request, object_id=None) -> bool:
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.change_freezeorder"):
            return False
        if object_id is None:
            return True
        order = self.get_object(request, str(object_id))
        return order.in_force and authority.may_lift(actor(request), order)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        who = actor(request)

        def perform(data):
            wallet = selectors.wallets_visible_to(who).filter(number=data["wallet"]).first()
            if wallet is None:
                raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {data['wallet']}")
            order = services.wallet_freeze(
                actor=who, wallet=wallet, scope=data["scope"], reason=data["reason"]
            )
            message = (
                f"freeze order #{order.pk} ({order.get_scope_display()}) on wallet "
                f"{wallet.number} by the {order.get_authority_display().lower()}: "
                f"{order.reason}; the wallet is now {wallet.account.status}"
            )
            return message, self.url("changelist"), order

        return self.run_form(
            request,
            forms.FreezeOrderForm,
            perform,
            initial={"wallet": request.GET.get("wallet", "")},
            title="Freeze order",
            submit_label="Issue order",
            intro="A full freeze stops payments in and out; receive-only stops payments out. "
            "Orders stack, and only the authority that gave one lifts it: the wallet's "
            "operator its own, a central-bank approver the central bank's.",
            cancel_url=self.url("changelist"),
        )

    @action(description="Lift", url_path="lift", permissions=["lift"], icon="lock_open")
    def lift(self, request, object_id):
        order = self.scoped_object(request, object_id)

        def perform(data):
            services.freeze_lift(actor=actor(request), order=order, reason=data["reason"])
            return f"freeze order #{order.pk} lifted", self.url("change", order.pk), order

        return self.run_form(
            request,
            forms.ReasonForm,
            perform,
            title=f"Lift freeze order #{order.pk}",
            submit_label="Lift",
            intro="The wallet is active again only when no other order is in force.",
            facts=[
                ("wallet", order.wallet.number),
                ("ordered by", f"the {order.get_authority_display().lower()}"),
                ("scope", order.get_scope_display()),
                ("reason", order.reason),
            ],
            cancel_url=self.url("change", order.pk),
        )


@admin.register(WalletStatusChange)
class WalletStatusChangeAdmin(ReadOnlyAdmin):
    """Every change of a wallet's status: by which order or closure, who, when and why."""

    list_display = ["at", "wallet", "old_status", "new_status", "reason", "order", "actor"]
    list_filter = ["new_status"]
    search_fields = ["wallet__number", "reason"]
    ordering = ["-at", "-pk"]

    def get_queryset(self, request):
        visible = selectors.wallets_visible_to(actor(request)).values("pk")
        return super().get_queryset(request).filter(wallet__in=visible).select_related("wallet")
