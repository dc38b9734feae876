"""Consumption voucher programmes: their terms, and their money as the ledger has it
(funded, granted, spent, returned, outstanding, winners) read with two aggregate queries
(`selectors.voucher_programme_totals`). Central-bank staff see them; its policy staff draw
a programme's lottery here."""

from django.contrib import admin
from unfold.decorators import action, display

from wallets import selectors, services
from wallets.catalogue import MERCHANT_CATEGORIES, REGIONS
from wallets.console import forms
from wallets.console.base import ReadOnlyAdmin, actor, yuan
from wallets.models import VoucherProgramme
from wallets.roles import Role

STATUS_LABELS = {"OPEN": "info", "DRAWN": "success", "CLOSED": "warning"}


def _totals(obj: VoucherProgramme) -> selectors.VoucherTotals:
    """Read once per page, however many fields show them."""
    if not hasattr(obj, "_totals"):
        obj._totals = selectors.voucher_programme_totals(obj)
    return obj._totals


@admin.register(VoucherProgramme)
class VoucherProgrammeAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "status_badge",
        "total_yuan",
        "voucher_yuan",
        "count",
        "valid_from",
        "valid_until",
    ]
    list_filter = ["status"]
    search_fields = ["name"]
    ordering = ["-pk"]
    fields = [
        "name",
        "status_badge",
        "government",
        "total_yuan",
        "voucher_yuan",
        "count",
        "categories",
        "regions_named",
        "valid_from",
        "valid_until",
        "seed",
        "funded_yuan",
        "granted_yuan",
        "spent_yuan",
        "returned_yuan",
        "returned_to_government_yuan",
        "outstanding_yuan",
        "winners",
        "drawn_at",
        "closed_at",
    ]
    readonly_fields = fields
    actions_detail = ["draw"]

    def get_queryset(self, request):
        return selectors.voucher_programmes_visible_to(actor(request))

    @display(description="status", label=STATUS_LABELS)
    def status_badge(self, obj):
        return obj.status

    @display(description="government wallet (funds it, gets back the unspent)")
    def government(self, obj):
        return obj.government_wallet.number

    @display(description="total (CNY)", ordering="total")
    def total_yuan(self, obj):
        return yuan(obj.total)

    @display(description="each voucher (CNY)")
    def voucher_yuan(self, obj):
        return yuan(obj.voucher_amount)

    @display(description="allowed categories")
    def categories(self, obj):
        return ", ".join(f"{mcc} {MERCHANT_CATEGORIES.get(mcc, '')}" for mcc in obj.mccs)

    @display(description="allowed regions")
    def regions_named(self, obj):
        return ", ".join(f"{code} {REGIONS.get(code, '')}" for code in obj.regions)

    @display(description="funded (CNY)")
    def funded_yuan(self, obj):
        return yuan(_totals(obj).funded)

    @display(description="granted (CNY)")
    def granted_yuan(self, obj):
        return yuan(_totals(obj).granted)

    @display(description="spent at merchants (CNY)")
    def spent_yuan(self, obj):
        return yuan(_totals(obj).spent)

    @display(description="returned from vouchers at expiry (CNY)")
    def returned_yuan(self, obj):
        return yuan(_totals(obj).returned)

    @display(description="returned to the government (CNY)")
    def returned_to_government_yuan(self, obj):
        return yuan(_totals(obj).returned_to_government)

    @display(description="outstanding on vouchers (CNY)")
    def outstanding_yuan(self, obj):
        return yuan(_totals(obj).outstanding)

    @display(description="winners")
    def winners(self, obj):
        return _totals(obj).winners

    def has_draw_permission(self, request, object_id=None) -> bool:
        self.visible(request, object_id)
        return request.user.has_perm("wallets.change_voucherprogramme") and actor(request).has(
            Role.CB_POLICY
        )

    @action(description="Draw the lottery", url_path="draw", permissions=["draw"], icon="casino")
    def draw(self, request, object_id):
        programme = self.scoped_object(request, object_id)

        def perform(data):
            grants = services.voucher_lottery_draw(actor=actor(request), programme=programme)
            return (
                f"lottery of {programme.name} drawn: {len(grants)} vouchers granted",
                self.url("change", programme.pk),
                programme,
            )

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"Draw the lottery of {programme.name}",
            submit_label="Draw",
            intro="Draws at most the programme's count of winners among its applications, "
            "with its seed (anyone can draw it again and get the same), and grants each a "
            "voucher from the programme's funds. Drawing again grants nothing more.",
            facts=[
                ("applications", programme.applications.count()),
                ("vouchers", f"{programme.count} of {yuan(programme.voucher_amount)} CNY"),
                ("seed", programme.seed),
            ],
            cancel_url=self.url("change", programme.pk),
        )
