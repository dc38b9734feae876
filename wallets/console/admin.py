"""The console's pages, one ModelAdmin per model: scoped reads, one service per action."""

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import (
    Case,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.utils.html import format_html
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from settlement.models import (
    AuditLeaf,
    Checkpoint,
    Posting,
    SigningKey,
    Transfer,
    TransferLeg,
)
from wallets import selectors, services
from wallets.console import forms
from wallets.console.base import ConsoleAdmin, ReadOnlyAdmin, principal, yuan
from wallets.console.selectors import latest_checkpoint_status
from wallets.models import (
    AuditVerification,
    Holder,
    IssuanceRequest,
    KycMethod,
    Operator,
    OperatorStatus,
    Wallet,
    WalletClass,
    WalletStatusChange,
)
from wallets.roles import Role

# Users and groups, themed like the rest (superusers manage them).
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


admin.site.index_template = "console/dashboard.html"
admin.site.index_title = "Dashboard"


# ---------------------------------------------------------------- operators


@admin.register(Operator)
class OperatorAdmin(ConsoleAdmin):
    list_display = [
        "code",
        "name",
        "name_zh",
        "status_badge",
        "reserve",
        "vault",
        "in_wallets",
        "circulation",
    ]
    list_filter = ["status"]
    search_fields = ["code", "name", "name_zh"]
    ordering = ["code"]
    fields = ["code", "name", "name_zh", "status", "created_at"]
    readonly_fields = fields
    actions_detail = ["suspend", "reinstate"]

    def get_queryset(self, request):
        in_wallets = (
            Wallet.objects.filter(operator=OuterRef("pk"))
            .values("operator")
            .annotate(total=Sum("account__balance"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                reserve_fen=F("reserve_account__balance"),
                vault_fen=F("vault_account__balance"),
                wallets_fen=Coalesce(Subquery(in_wallets), 0),
            )
        )

    @display(description="status", label={"ACTIVE": "success", "SUSPENDED": "danger"})
    def status_badge(self, obj):
        return obj.status

    @display(description="reserve (CNY)", ordering="reserve_fen")
    def reserve(self, obj):
        return yuan(obj.reserve_fen)

    @display(description="vault (CNY)", ordering="vault_fen")
    def vault(self, obj):
        return yuan(obj.vault_fen)

    @display(description="in wallets (CNY)", ordering="wallets_fen")
    def in_wallets(self, obj):
        return yuan(obj.wallets_fen)

    @display(description="e-CNY in circulation (CNY)")
    def circulation(self, obj):
        return yuan(obj.vault_fen + obj.wallets_fen)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the row is the ledger's; status changes are the actions below

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_status_permission(self, request, object_id=None) -> bool:
        return self.visible(request, object_id) and request.user.has_perm("wallets.change_operator")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data):
            operator = services.operator_onboard(actor=request.user, **data)
            return f"{operator.code} onboarded", self.url("change", operator.pk), operator

        return self.run_form(
            request,
            forms.OperatorOnboardForm,
            perform,
            title="Onboard an operator",
            submit_label="Onboard",
            intro="Authorises the operator and credits its opening reserve deposit at the "
            "central bank.",
            cancel_url=self.url("changelist"),
        )

    def _set_status(self, request, object_id, status: OperatorStatus, verb: str):
        operator = self.scoped_object(request, object_id)

        def perform(data):
            services.operator_set_status(actor=request.user, operator=operator, status=status)
            return f"{operator.code} {verb}", self.url("change", operator.pk), operator

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"{verb.capitalize()} {operator.code}",
            submit_label=verb.capitalize(),
            facts=[("operator", operator.name), ("status now", operator.get_status_display())],
            cancel_url=self.url("change", operator.pk),
        )

    @action(description="Suspend", url_path="suspend", permissions=["status"], icon="block")
    def suspend(self, request, object_id):
        return self._set_status(request, object_id, OperatorStatus.SUSPENDED, "suspended")

    @action(description="Reinstate", url_path="reinstate", permissions=["status"], icon="check")
    def reinstate(self, request, object_id):
        return self._set_status(request, object_id, OperatorStatus.ACTIVE, "reinstated")


# ---------------------------------------------------------------- issuance (maker-checker)


@admin.register(IssuanceRequest)
class IssuanceRequestAdmin(ConsoleAdmin):
    list_display = [
        "id",
        "direction",
        "operator",
        "amount_yuan",
        "state_badge",
        "maker",
        "checker",
        "created_at",
        "decided_at",
        "settlement",
    ]
    list_filter = ["state", "direction", "operator"]
    ordering = ["-pk"]
    fields = [
        "direction",
        "operator",
        "amount_yuan",
        "state",
        "maker",
        "created_at",
        "checker",
        "decided_at",
        "reason",
        "settlement",
    ]
    readonly_fields = fields
    actions_detail = ["approve", "reject"]

    def get_queryset(self, request):
        return selectors.issuances_visible_to(principal(request))

    @display(description="amount (CNY)", ordering="amount")
    def amount_yuan(self, obj):
        return yuan(obj.amount)

    @display(
        description="state",
        label={"REQUESTED": "warning", "APPROVED": "success", "REJECTED": "danger"},
    )
    def state_badge(self, obj):
        return obj.state

    @display(description="ledger transfer")
    def settlement(self, obj):
        if obj.transfer is None:
            return "—"
        transfer = obj.transfer
        code = f" {transfer.reject_code}" if transfer.reject_code else ""
        return f"#{transfer.pk} {transfer.state}{code}"

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and principal(request).has(Role.CB_ISSUER)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # decisions are the approve and reject actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_decide_permission(self, request, object_id=None) -> bool:
        return (
            self.visible(request, object_id)
            and request.user.has_perm("wallets.change_issuancerequest")
            and principal(request).has(Role.CB_APPROVER)
        )

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data):
            issuance = services.issuance_request(actor=request.user, **data)
            return (
                f"request {issuance.pk} made: {issuance.direction} {yuan(issuance.amount)} CNY "
                f"for {issuance.operator.code}; a different approver must now decide it",
                self.url("change", issuance.pk),
                issuance,
            )

        return self.run_form(
            request,
            forms.IssuanceRequestForm,
            perform,
            title="Request an issuance or a redemption",
            submit_label="Request",
            intro="You are the maker: a different central-bank approver approves or rejects.",
            cancel_url=self.url("changelist"),
        )

    def _facts(self, issuance):
        return [
            ("request", f"#{issuance.pk}"),
            ("direction", issuance.get_direction_display()),
            ("operator", f"{issuance.operator.code} ({issuance.operator.name})"),
            ("amount", f"{yuan(issuance.amount)} CNY"),
            ("maker", issuance.maker.get_username()),
            ("state", issuance.get_state_display()),
        ]

    @action(description="Approve", url_path="approve", permissions=["decide"], icon="verified")
    def approve(self, request, object_id):
        issuance = self.scoped_object(request, object_id)

        def perform(data):
            done = services.issuance_approve(actor=request.user, request_id=issuance.pk)
            return (
                f"request {done.pk} approved: transfer #{done.transfer_id} submitted to the ledger",
                self.url("change", done.pk),
                done,
            )

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"Approve request {issuance.pk}",
            submit_label="Approve",
            intro="Approving submits the transfer to settlement, like every other movement.",
            facts=self._facts(issuance),
            cancel_url=self.url("change", issuance.pk),
        )

    @action(description="Reject", url_path="reject", permissions=["decide"], icon="cancel")
    def reject(self, request, object_id):
        issuance = self.scoped_object(request, object_id)

        def perform(data):
            services.issuance_reject(
                actor=request.user, request_id=issuance.pk, reason=data["reason"]
            )
            return f"request {issuance.pk} rejected", self.url("change", issuance.pk), issuance

        return self.run_form(
            request,
            forms.ReasonForm,
            perform,
            title=f"Reject request {issuance.pk}",
            submit_label="Reject",
            facts=self._facts(issuance),
            cancel_url=self.url("change", issuance.pk),
        )


# ---------------------------------------------------------------- wallet classes


@admin.register(WalletClass)
class WalletClassAdmin(ConsoleAdmin):
    list_display = [
        "number",
        "name",
        "kyc_requirement",
        "balance_cap_yuan",
        "single_yuan",
        "daily_yuan",
        "annual_yuan",
        "updated_at",
        "updated_by",
    ]
    ordering = ["number"]
    fields = list_display
    readonly_fields = list_display
    actions_detail = ["edit_limits"]
    actions_list = ["apply_preset"]

    @display(description="balance cap (CNY)")
    def balance_cap_yuan(self, obj):
        return yuan(obj.balance_cap)

    @display(description="single payment (CNY)")
    def single_yuan(self, obj):
        return yuan(obj.single_limit)

    @display(description="daily (CNY)")
    def daily_yuan(self, obj):
        return yuan(obj.daily_limit)

    @display(description="annual (CNY)")
    def annual_yuan(self, obj):
        return yuan(obj.annual_limit)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # edits go through the limits form and its service

    def has_limits_permission(self, request, object_id=None) -> bool:
        return self.visible(request, object_id) and request.user.has_perm(
            "wallets.change_walletclass"
        )

    @action(description="Edit limits", url_path="limits", permissions=["limits"], icon="edit")
    def edit_limits(self, request, object_id):
        klass = self.scoped_object(request, object_id)

        def perform(data):
            services.wallet_class_update(actor=request.user, number=klass.number, **data)
            return (
                f"class {klass.number} limits changed; every wallet of the class follows",
                self.url("change", klass.number),
                klass,
            )

        return self.run_form(
            request,
            forms.WalletClassForm,
            perform,
            initial=klass.limits(),
            title=f"Limits of class {klass.number}",
            submit_label="Save limits",
            intro=f"{klass.kyc_requirement}. Applies to every wallet of the class at once; "
            "the change is recorded with your name.",
            cancel_url=self.url("change", klass.number),
        )

    @action(description="Switch to a preset", url_path="preset", permissions=["limits"])
    def apply_preset(self, request):
        def perform(data):
            classes = services.wallet_classes_apply_preset(
                actor=request.user, preset=data["preset"]
            )
            numbers = ", ".join(str(klass.number) for klass in classes)
            return f"limits of classes {numbers} switched", self.url("changelist")

        return self.run_form(
            request,
            forms.PresetForm,
            perform,
            title="Switch the limits table to a preset",
            submit_label="Switch",
            intro="Sources disagree on the limits; these are the published tables. Every "
            "change is recorded with your name, and applies to every wallet of the class.",
            cancel_url=self.url("changelist"),
        )


@admin.register(WalletClass.history.model)
class WalletClassChangeAdmin(ReadOnlyAdmin):
    """Every change of a class's limits: who, when, and the limits it set."""

    list_display = [
        "history_date",
        "history_user",
        "number",
        "history_type",
        "balance_cap_yuan",
        "single_yuan",
        "daily_yuan",
        "annual_yuan",
    ]
    list_filter = ["number"]
    ordering = ["-history_date", "-history_id"]

    balance_cap_yuan = WalletClassAdmin.balance_cap_yuan
    single_yuan = WalletClassAdmin.single_yuan
    daily_yuan = WalletClassAdmin.daily_yuan
    annual_yuan = WalletClassAdmin.annual_yuan


# ---------------------------------------------------------------- holders and wallets


@admin.register(Holder)
class HolderAdmin(ConsoleAdmin):
    list_display = ["display_name", "kind", "kyc_method", "phone", "wallets_here", "created_at"]
    list_filter = ["kind", "kyc_method"]
    search_fields = ["display_name", "phone", "pseudonym"]
    fields = [
        "display_name",
        "kind",
        "pseudonym",
        "kyc_method",
        "phone",
        "id_number_masked",
        "bank_account_masked",
        "kyc_verified_at",
        "wallets_here",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        holders = super().get_queryset(request)
        who = principal(request)
        if request.user.is_superuser:
            return holders.annotate(scope_operator=Value(None, output_field=IntegerField()))
        if who.operator_id is None:
            return holders.none()
        return (
            holders.filter(wallets__operator_id=who.operator_id)
            .distinct()
            .annotate(scope_operator=Value(who.operator_id, output_field=IntegerField()))
        )

    @display(description="wallets here")
    def wallets_here(self, obj):
        # The scope travels on the row (no per-request state on this shared admin object).
        wallets = obj.wallets.order_by("pk")
        if obj.scope_operator is not None:
            wallets = wallets.filter(operator_id=obj.scope_operator)
        return ", ".join(wallet.number for wallet in wallets) or "—"

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and principal(request).operator_id is not None

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        operator = Operator.objects.get(pk=principal(request).operator_id)

        def perform(data):
            wallet = services.holder_onboard(
                actor=request.user, operator=operator, **form_holder_fields(data)
            )
            return (
                f"{wallet.holder.display_name} onboarded: class {wallet.wallet_class_id} "
                f"wallet {wallet.number}",
                self.url("change", wallet.holder_id),
                wallet.holder,
                wallet,
            )

        return self.run_form(
            request,
            forms.HolderOnboardForm,
            perform,
            title=f"Onboard a holder at {operator.code}",
            submit_label="Open wallet",
            intro="Records the KYC evidence (numbers are stored masked) and opens a first "
            "wallet; the class defaults to the strongest the evidence allows.",
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
        "limits",
        "created_at",
    ]
    readonly_fields = fields
    actions_detail = ["load", "unload", "freeze"]

    def get_queryset(self, request):
        who = principal(request)
        # Central-bank staff know anonymous (class 4, phone-only) holders by pseudonym only:
        # the rule of Principal.sees_identity_of, as a column of the query.
        sees = ~Q(holder__kyc_method=KycMethod.PHONE_ONLY)
        if who.operator_id is not None:
            sees |= Q(operator_id=who.operator_id)
        if who.holder_id is not None:
            sees |= Q(holder_id=who.holder_id)
        return selectors.wallets_visible_to(who).annotate(
            holder_shown=Case(
                When(sees, then=F("holder__display_name")), default=F("holder__pseudonym")
            )
        )

    def get_list_filter(self, request):
        if principal(request).is_central_bank:
            return self.list_filter
        return [name for name in self.list_filter if name != "operator"]

    @display(description="holder")
    def holder_name(self, obj):
        return obj.holder_shown

    @display(description="balance (CNY)", ordering="account__balance")
    def balance_yuan(self, obj):
        return yuan(obj.account.balance)

    @display(
        description="status",
        label={
            "ACTIVE": "success",
            "RECEIVE_ONLY": "warning",
            "FROZEN": "danger",
            "CLOSED": "info",
        },
    )
    def status_badge(self, obj):
        return obj.account.status

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

    def has_move_permission(self, request, object_id=None) -> bool:
        """Load and unload: the wallet's own operator's staff only."""
        self.visible(request, object_id)
        who = principal(request)
        if not request.user.has_perm("wallets.change_wallet") or who.operator_id is None:
            return False
        if object_id is None:
            return True
        return self.get_queryset(request).filter(pk=object_id, operator_id=who.operator_id).exists()

    def has_freeze_permission(self, request, object_id=None) -> bool:
        return self.visible(request, object_id) and request.user.has_perm(
            "wallets.add_walletstatuschange"
        )

    def _move(self, request, object_id, service, verb: str):
        wallet = self.scoped_object(request, object_id)

        def perform(data):
            transfer = service(
                actor=request.user,
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
        url = admin_url(WalletStatusChange, "add")
        return HttpResponseRedirect(f"{url}?wallet={wallet.number}")


def admin_url(model, name: str, *args) -> str:
    from django.urls import reverse

    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=args)


def nonce_form(form_class):
    """The form with a hidden one-time key, so a resubmitted POST moves money once."""
    import secrets

    from django import forms as django_forms

    class WithNonce(form_class):
        nonce = django_forms.CharField(
            widget=django_forms.HiddenInput, initial=lambda: secrets.token_hex(16)
        )

    WithNonce.__name__ = form_class.__name__
    return WithNonce


@admin.register(WalletStatusChange)
class FreezeOrderAdmin(ConsoleAdmin):
    list_display = ["at", "wallet", "old_status", "new_status", "reason", "actor"]
    list_filter = ["new_status"]
    search_fields = ["wallet__number", "reason"]
    ordering = ["-at", "-pk"]
    fields = list_display
    readonly_fields = fields

    def get_queryset(self, request):
        visible = selectors.wallets_visible_to(principal(request)).values("pk")
        return super().get_queryset(request).filter(wallet__in=visible).select_related("wallet")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        who = principal(request)

        def perform(data):
            # The same rule as the API: the wallet's operator, or a central-bank approver.
            wallet = selectors.wallets_visible_to(who).filter(number=data["wallet"]).first()
            if wallet is None:
                raise_not_found(data["wallet"])
            if who.operator_id != wallet.operator_id and not who.has(Role.CB_APPROVER):
                raise_forbidden()
            services.wallet_set_status(
                actor=request.user, wallet=wallet, status=data["status"], reason=data["reason"]
            )
            message = f"wallet {wallet.number} is now {data['status']}: {data['reason']}"
            return message, self.url("changelist"), wallet

        return self.run_form(
            request,
            forms.FreezeOrderForm,
            perform,
            initial={"wallet": request.GET.get("wallet", "")},
            title="Freeze order",
            submit_label="Issue order",
            intro="A full freeze stops payments in and out; receive-only stops payments out. "
            "Every order is kept with its reason and who gave it.",
            cancel_url=self.url("changelist"),
        )


def raise_not_found(number: str):
    from ewallet.errors import ErrorCode
    from wallets.exceptions import WalletError

    raise WalletError(ErrorCode.NOT_FOUND, f"no wallet {number}")


def raise_forbidden():
    from ewallet.errors import ErrorCode
    from wallets.exceptions import WalletError

    raise WalletError(
        ErrorCode.PERMISSION_DENIED,
        "only the wallet's operator or a central-bank approver may do this",
    )


# ---------------------------------------------------------------- the ledger (read-only)


class LegInline(admin.TabularInline):
    model = TransferLeg
    fields = ["seq", "asset", "debit", "credit", "amount_yuan"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    @display(description="amount (CNY)")
    def amount_yuan(self, obj):
        return yuan(obj.amount)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "state_badge", "reject_code", "memo", "created_at", "decided_at"]
    list_filter = ["state", "kind", "reject_code"]
    search_fields = ["=id", "idempotency_key", "memo"]
    ordering = ["-pk"]
    inlines = [LegInline]

    def get_queryset(self, request):
        return selectors.transfers_visible_to(principal(request))

    @display(
        description="state",
        label={"RECEIVED": "info", "SETTLED": "success", "REJECTED": "danger"},
    )
    def state_badge(self, obj):
        return obj.state


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ["id", "transfer", "account", "asset", "amount_yuan"]
    list_filter = ["asset"]
    search_fields = ["=transfer__id", "account__label"]
    ordering = ["-pk"]

    def get_queryset(self, request):
        postings = super().get_queryset(request).select_related("transfer", "account")
        accounts = selectors.accounts_visible_to(principal(request))
        return postings if accounts is None else postings.filter(account__in=accounts)

    @display(description="amount (CNY)", ordering="amount")
    def amount_yuan(self, obj):
        return yuan(obj.amount)


@admin.register(AuditLeaf)
class AuditLeafAdmin(ReadOnlyAdmin):
    list_display = ["index", "transfer", "leaf_hash_hex", "chain_hash_hex"]
    search_fields = ["=index", "=transfer__id"]
    ordering = ["-index"]
    fields = ["index", "transfer", "entry", "leaf_hash_hex", "chain_hash_hex"]
    readonly_fields = fields

    @display(description="leaf hash")
    def leaf_hash_hex(self, obj):
        return bytes(obj.leaf_hash).hex()

    @display(description="chain hash")
    def chain_hash_hex(self, obj):
        return bytes(obj.chain_hash).hex()

    @display(description="entry (RFC 8785 JSON)")
    def entry(self, obj):
        return format_html("<code>{}</code>", bytes(obj.leaf_bytes).decode())


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ["height", "size", "created_at", "key_hash", "root"]
    ordering = ["-height"]
    fields = ["height", "size", "created_at", "key_hash", "root", "signed_note"]
    readonly_fields = fields

    @display(description="Merkle root (base64)")
    def root(self, obj):
        import base64

        return base64.b64encode(bytes(obj.root_hash)).decode()

    @display(description="signed note")
    def signed_note(self, obj):
        return format_html("<pre>{}</pre>", obj.note)


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_hash", "name", "created_at", "retired_at"]
    ordering = ["-created_at"]
    exclude = ["public_key"]


# ---------------------------------------------------------------- audit status


@admin.register(AuditVerification)
class AuditStatusAdmin(ConsoleAdmin):
    """The audit log's status: the latest checkpoint and its signature, and `audit verify`
    runs asked for here (each a Celery job), with what they found and when."""

    list_display = [
        "requested_at",
        "requested_by",
        "result",
        "finished_at",
        "seconds",
        "leaves",
        "checkpoints",
        "summary",
    ]
    ordering = ["-requested_at", "-pk"]
    list_before_template = "console/audit_status.html"
    actions_list = ["verify_now"]
    fields = list_display
    readonly_fields = fields

    @display(
        description="result",
        label={"queued": "info", "running": "warning", "OK": "success", "FAILED": "danger"},
    )
    def result(self, obj):
        if obj.ok is None:
            return "running" if obj.started_at else "queued"
        return "OK" if obj.ok else "FAILED"

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "audit": latest_checkpoint_status()}
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request) -> bool:
        return False  # "verify now" below asks for a run

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_verify_permission(self, request) -> bool:
        return request.user.has_perm("wallets.add_auditverification")

    @action(description="Verify now", url_path="verify", permissions=["verify"], icon="fact_check")
    def verify_now(self, request):
        if request.method != "POST":
            return self.form_page(
                request,
                title="Run audit verify",
                form=forms.ConfirmForm(),
                submit_label="Verify now",
                intro="Recomputes every leaf, the hash chain, every checkpoint and signature, "
                "and the money invariants, as a background job; the result appears here.",
                cancel_url=self.url("changelist"),
            )
        verification = services.audit_verification_request(actor=request.user)
        messages.success(request, f"audit verify #{verification.pk} queued")
        return HttpResponseRedirect(self.url("changelist"))
