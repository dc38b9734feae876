"""Sub-wallets' page: the sub-wallets holders pushed to merchants, what was pulled from
each and what is left, and revoking one.

Each role sees its scope through the selectors: the central bank every sub-wallet, an
operator's staff those pushed from their holders' wallets, a merchant's staff those pushed
to their merchant. Only the parent wallet's operator's staff revoke here (the holder does
from their app); the merchant pulls through the API.
"""

from django.contrib import admin
from unfold.decorators import action, display

from wallets import authority, selectors, services
from wallets.console import forms
from wallets.console.admin.merchants import transfer_link, transfer_state, username
from wallets.console.base import ReadOnlyAdmin, actor, yuan
from wallets.models import SubWallet, SubWalletState

STATE_LABELS = {
    SubWalletState.ACTIVE: "success",
    SubWalletState.REVOKED: "danger",
    SubWalletState.EXPIRED: "warning",
}


@admin.register(SubWallet)
class SubWalletAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "merchant_name",
        "parent_number",
        "state_badge",
        "cap_yuan",
        "pulled_yuan",
        "remaining_yuan",
        "expires_at",
    ]
    search_fields = ["code", "parent__number", "wallet__number", "merchant__name"]
    ordering = ["-created_at", "-pk"]
    fields = [
        "code",
        "state_badge",
        "merchant_name",
        "parent_number",
        "child_number",
        "cap_yuan",
        "funding",
        "pulled_yuan",
        "remaining_yuan",
        "returned_yuan",
        "expires_at",
        "created_at",
        "revoked",
    ]
    readonly_fields = fields
    actions_detail = ["revoke"]

    def get_queryset(self, request):
        return selectors.sub_wallets_visible_to(actor(request)).select_related(
            "revoked_by", "created_by"
        )

    @display(description="state", label=STATE_LABELS)
    def state_badge(self, obj):
        return obj.state

    # Unlinked: the merchant's staff do not see the parent wallet's page, nor the holder's
    # operator the merchant's.
    @display(description="merchant", ordering="merchant__name")
    def merchant_name(self, obj):
        return obj.merchant.name

    @display(description="parent wallet", ordering="parent__number")
    def parent_number(self, obj):
        return obj.parent.number

    @display(description="sub-wallet's own wallet")
    def child_number(self, obj):
        return obj.wallet.number

    @display(description="cap (CNY)", ordering="cap")
    def cap_yuan(self, obj):
        return yuan(obj.cap)

    @display(description="funding")
    def funding(self, obj):
        return f"{transfer_link(obj.fund_transfer)} {transfer_state(obj.fund_transfer)}"

    @display(description="pulled (CNY)", ordering="pulled")
    def pulled_yuan(self, obj):
        return yuan(obj.pulled)

    @display(description="left (CNY)", ordering="unspent")
    def remaining_yuan(self, obj):
        return yuan(obj.unspent)

    @display(description="returned (CNY)", ordering="returned")
    def returned_yuan(self, obj):
        return yuan(obj.returned)

    @display(description="revoked")
    def revoked(self, obj):
        if obj.revoked_at is None:
            return "—"
        return f"{obj.revoked_at:%Y-%m-%d %H:%M} by {username(obj.revoked_by)}"

    def has_revoke_permission(self, request, object_id=None) -> bool:
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.change_subwallet"):
            return False
        if object_id is None:
            return True
        return authority.controls_sub_wallet(actor(request), self.get_object(request, object_id))

    @action(description="Revoke", url_path="revoke", permissions=["revoke"], icon="block")
    def revoke(self, request, object_id):
        sub_wallet = self.scoped_object(request, object_id)

        def perform(data):
            services.sub_wallet_revoke(actor=actor(request), sub_wallet=sub_wallet)
            return (
                f"sub-wallet {sub_wallet.code} revoked; {yuan(sub_wallet.unspent)} CNY "
                f"returning to wallet {sub_wallet.parent.number}",
                self.url("change", sub_wallet.pk),
                sub_wallet,
            )

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"Revoke sub-wallet {sub_wallet.code}",
            submit_label="Revoke",
            intro="The merchant pulls nothing more from it, and what it holds goes back to the "
            "parent wallet.",
            facts=[
                ("merchant", sub_wallet.merchant.name),
                ("parent wallet", sub_wallet.parent.number),
                ("state", sub_wallet.state),
                ("left", f"{yuan(sub_wallet.unspent)} CNY"),
            ],
            cancel_url=self.url("change", sub_wallet.pk),
        )
