"""The central bank's pages: operators, issuance and redemption (maker-checker), and the
wallet-class limits with their change history."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from unfold.decorators import action, display

from wallets import selectors, services
from wallets.console import forms
from wallets.console.base import ConsoleAdmin, ReadOnlyAdmin, actor, yuan
from wallets.models import LIMIT_FIELDS, IssuanceRequest, Operator, OperatorStatus, WalletClass


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
        return selectors.operators_with_balances()

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
            operator = services.operator_onboard(actor=actor(request), **data)
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
            services.operator_set_status(actor=actor(request), operator=operator, status=status)
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
        return selectors.issuances_visible_to(actor(request))

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
        return super().has_add_permission(request)  # the issuer's group; the service decides

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # decisions are the approve and reject actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_decide_permission(self, request, object_id=None) -> bool:
        return self.visible(request, object_id) and request.user.has_perm(
            "wallets.change_issuancerequest"
        )

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data):
            issuance = services.issuance_request(actor=actor(request), **data)
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
            done = services.issuance_approve(actor=actor(request), request_id=issuance.pk)
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
                actor=actor(request), request_id=issuance.pk, reason=data["reason"]
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
        "per_person",
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

    @display(description="wallets per person")
    def per_person(self, obj):
        return "—" if obj.wallets_per_person is None else obj.wallets_per_person

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
            if "wallets_per_person" not in request.POST:  # a form without it keeps the cap
                data = {name: value for name, value in data.items() if name in LIMIT_FIELDS}
            services.wallet_class_update(actor=actor(request), number=klass.number, **data)
            return (
                f"class {klass.number} limits changed; every wallet of the class follows",
                self.url("change", klass.number),
                klass,
            )

        return self.run_form(
            request,
            forms.WalletClassForm,
            perform,
            initial={**klass.limits(), "wallets_per_person": klass.wallets_per_person},
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
                actor=actor(request), preset=data["preset"]
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
        "per_person",
    ]
    list_filter = ["number"]
    ordering = ["-history_date", "-history_id"]

    balance_cap_yuan = WalletClassAdmin.balance_cap_yuan
    single_yuan = WalletClassAdmin.single_yuan
    daily_yuan = WalletClassAdmin.daily_yuan
    annual_yuan = WalletClassAdmin.annual_yuan
    per_person = WalletClassAdmin.per_person
