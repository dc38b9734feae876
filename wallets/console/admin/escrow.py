"""Conditional payments' pages: the escrows each role may see (the central bank every one,
an operator's staff those paying from or to their holders' wallets, a merchant's staff
those paying its wallet, an approver those naming them), and the actions the signed-in
user may take on one: confirm delivery for the payer, approve as the named approver,
agree to cancel for a party. Each is one call of `wallets.services`, which decides.
"""

from django.contrib import admin
from unfold.decorators import action, display

from settlement.models import Transfer
from wallets import authority, selectors, services
from wallets.console import forms
from wallets.console.admin.merchants import link, transfer_link, transfer_state, username
from wallets.console.base import ReadOnlyAdmin, actor, admin_url, yuan
from wallets.models import Escrow, EscrowState, Wallet

STATE_LABELS = {
    EscrowState.HELD: "info",
    EscrowState.RELEASED: "success",
    EscrowState.CANCELLED: "warning",
    EscrowState.EXPIRED: "warning",
    EscrowState.REFUSED: "danger",
}


@admin.register(Escrow)
class EscrowAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "state_badge",
        "condition",
        "payer",
        "payee",
        "amount_yuan",
        "timeout_at",
        "created_at",
    ]
    list_filter = ["condition"]
    search_fields = ["payer_wallet__number", "payee_wallet__number", "memo"]
    ordering = ["-created_at", "-pk"]
    fields = [
        "state_badge",
        "condition",
        "payer",
        "payee",
        "amount_yuan",
        "release_at",
        "approver_name",
        "timeout_at",
        "memo",
        "held_by",
        "released_by",
        "voided_by",
        "payer_cancelled_at",
        "payee_cancelled_at",
        "created_by_name",
        "created_at",
    ]
    readonly_fields = fields
    actions_detail = ["confirm", "approve", "cancel"]

    def get_queryset(self, request):
        # The state as a column: one query for the page, not one per row.
        return selectors.escrows_with_state(actor(request))

    @display(description="state", label=STATE_LABELS, ordering="state")
    def state_badge(self, obj):
        return obj.state

    @display(description="payer", ordering="payer_wallet__number")
    def payer(self, obj):
        return link(admin_url(Wallet, "change", obj.payer_wallet_id), obj.payer_wallet.number)

    @display(description="payee", ordering="payee_wallet__number")
    def payee(self, obj):
        return link(admin_url(Wallet, "change", obj.payee_wallet_id), obj.payee_wallet.number)

    @display(description="amount (CNY)", ordering="amount")
    def amount_yuan(self, obj):
        return yuan(obj.amount)

    @display(description="expires unreleased at", ordering="transfer__timeout_at")
    def timeout_at(self, obj):
        return obj.transfer.timeout_at

    @display(description="approver")
    def approver_name(self, obj):
        return username(obj.approver)

    @display(description="created by")
    def created_by_name(self, obj):
        return username(obj.created_by)

    def _phase(self, transfer: Transfer | None) -> str:
        if transfer is None:
            return "—"
        return f"{transfer_link(transfer)} {transfer_state(transfer)}"

    @display(description="held by (pending transfer)")
    def held_by(self, obj):
        return self._phase(obj.transfer)

    @display(description="release")
    def released_by(self, obj):
        return self._phase(obj.release)

    @display(description="cancellation")
    def voided_by(self, obj):
        return self._phase(obj.void)

    # Buttons: a role whose group may act on escrows (or the approver it names), and, on a
    # row, the party or approver wallets.authority says; the service still decides.

    def _may(self, request, object_id, rule) -> bool:
        self.visible(request, object_id)
        if object_id is None:
            return True
        return rule(actor(request), self.get_object(request, object_id))

    def has_confirm_permission(self, request, object_id=None) -> bool:
        return request.user.has_perm("wallets.change_escrow") and self._may(
            request, object_id, authority.acts_for_payer
        )

    def has_approve_permission(self, request, object_id=None) -> bool:
        return self._may(request, object_id, authority.approves_escrow)

    def has_cancel_permission(self, request, object_id=None) -> bool:
        return request.user.has_perm("wallets.change_escrow") and self._may(
            request,
            object_id,
            lambda who, escrow: (
                authority.acts_for_payer(who, escrow) or authority.acts_for_payee(who, escrow)
            ),
        )

    def _act(self, request, object_id, service, *, verb: str, intro: str):
        escrow = self.scoped_object(request, object_id)

        def perform(data):
            done = service(actor=actor(request), escrow=escrow)
            return f"escrow {escrow.pk}: {verb}", self.url("change", done.pk), done

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"{verb.capitalize()}: escrow {escrow.pk}",
            submit_label=verb.capitalize(),
            intro=intro,
            facts=[
                ("payer", escrow.payer_wallet.number),
                ("payee", escrow.payee_wallet.number),
                ("amount", f"{yuan(escrow.amount)} CNY"),
                ("condition", escrow.get_condition_display()),
                ("state", escrow.state),
            ],
            cancel_url=self.url("change", escrow.pk),
        )

    @action(description="Confirm delivery", url_path="confirm", permissions=["confirm"])
    def confirm(self, request, object_id):
        return self._act(
            request,
            object_id,
            services.escrow_confirm,
            verb="delivery confirmed",
            intro="For the payer: the held amount is released to the payee.",
        )

    @action(description="Approve", url_path="approve", permissions=["approve"])
    def approve(self, request, object_id):
        return self._act(
            request,
            object_id,
            services.escrow_approve,
            verb="approved",
            intro="As the approver it names: the held amount is released to the payee.",
        )

    @action(description="Agree to cancel", url_path="cancel", permissions=["cancel"])
    def cancel(self, request, object_id):
        return self._act(
            request,
            object_id,
            services.escrow_cancel,
            verb="cancellation agreed",
            intro="For the side you act for: when both the payer's and the payee's side "
            "have agreed, the hold is released and nothing moves.",
        )
