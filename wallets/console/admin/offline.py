"""Dual-offline hardware wallets' pages: devices and their reserves, the offline payments
their syncs brought, the double-spend alerts operators take up, and the central bank's
offline cap per wallet class.

Each role sees its scope through the selectors: the central bank everything, an operator's
staff the devices of its wallets (and the payments they paid or took, and their alerts).
Only the device's operator's staff acknowledge an alert; only central-bank policy staff
edit a cap. Devices are registered, loaded and synced by their holders' apps and the
operators' terminals, through the API.
"""

from django import forms as django_forms
from django.contrib import admin
from unfold.decorators import action, display

from wallets import authority, selectors, services
from wallets.console import forms
from wallets.console.admin.merchants import username
from wallets.console.base import ConsoleAdmin, ReadOnlyAdmin, actor, yuan
from wallets.models import DoubleSpendAlert, OfflineDevice, OfflineLimit, OfflinePayment

STATE_LABELS = {"ACTIVE": "success", "BLOCKED": "danger"}
PAYMENT_STATE_LABELS = {
    "SETTLED": "success",
    "QUEUED": "info",
    "HELD": "warning",
    "SHORT": "danger",
}
SHAPE_LABELS = {"COUNTER_REUSED": "danger", "FORK": "danger", "OVER_RESERVE": "warning"}


@admin.register(OfflineDevice)
class OfflineDeviceAdmin(ReadOnlyAdmin):
    list_display = [
        "device_id",
        "name",
        "wallet_number",
        "state_badge",
        "cap_yuan",
        "loaded_yuan",
        "available_yuan",
        "claimed_yuan",
        "shortfall_yuan",
        "last_synced_at",
    ]
    list_filter = ["state"]
    search_fields = ["device_id", "name", "wallet__number"]
    ordering = ["-created_at", "-pk"]
    fields = [
        "device_id",
        "name",
        "wallet_number",
        "state_badge",
        "blocked_at",
        "blocked_reason",
        "public_key",
        "cap_yuan",
        "loaded_yuan",
        "loading_yuan",
        "claimed_yuan",
        "allocated_yuan",
        "paid_out_yuan",
        "available_yuan",
        "shortfall_yuan",
        "created_at",
        "last_synced_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.offline_devices_visible_to(actor(request))

    @display(description="state", label=STATE_LABELS)
    def state_badge(self, obj):
        return obj.state

    @display(description="wallet", ordering="wallet__number")
    def wallet_number(self, obj):
        return obj.wallet.number

    @display(description="cap (CNY)", ordering="cap")
    def cap_yuan(self, obj):
        return yuan(obj.cap)

    @display(description="loaded (CNY)", ordering="loaded")
    def loaded_yuan(self, obj):
        return yuan(obj.loaded)

    @display(description="loading (CNY)")
    def loading_yuan(self, obj):
        return yuan(obj.loading)

    @display(description="claimed at sync (CNY)", ordering="claimed")
    def claimed_yuan(self, obj):
        return yuan(obj.claimed)

    @display(description="its reserve pays (CNY)")
    def allocated_yuan(self, obj):
        return yuan(obj.allocated)

    @display(description="paid out (CNY)")
    def paid_out_yuan(self, obj):
        return yuan(obj.paid_out)

    @display(description="available (CNY)", ordering="available")
    def available_yuan(self, obj):
        return yuan(obj.available)

    @display(description="payees' loss (CNY)", ordering="shortfall")
    def shortfall_yuan(self, obj):
        return yuan(obj.shortfall)


@admin.register(OfflinePayment)
class OfflinePaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "payer_device",
        "counter",
        "payee_device",
        "amount_yuan",
        "state_badge",
        "allocated_yuan",
        "shortfall_yuan",
        "signed_at",
    ]
    search_fields = ["hash", "payer__device_id", "payee__device_id"]
    ordering = ["-received_at", "-pk"]
    fields = [
        "hash",
        "payer_device",
        "counter",
        "prev_hash",
        "payee_device",
        "payee_wallet",
        "amount_yuan",
        "state_badge",
        "allocated_yuan",
        "paid_yuan",
        "shortfall_yuan",
        "signed_at",
        "received_at",
        "uploaded_by_device",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.offline_payments_visible_to(actor(request))

    @display(description="payer device", ordering="payer__device_id")
    def payer_device(self, obj):
        return obj.payer.device_id

    @display(description="payee device")
    def payee_device(self, obj):
        return "itself (an unload)" if obj.is_unload else obj.payee.device_id

    @display(description="paid into wallet")
    def payee_wallet(self, obj):
        return obj.payee.wallet.number

    @display(description="first uploaded by")
    def uploaded_by_device(self, obj):
        return obj.uploaded_by.device_id

    @display(description="amount (CNY)", ordering="amount")
    def amount_yuan(self, obj):
        return yuan(obj.amount)

    @display(description="state", label=PAYMENT_STATE_LABELS)
    def state_badge(self, obj):
        return selectors.offline_payment_state(obj)

    @display(description="reserve pays (CNY)")
    def allocated_yuan(self, obj):
        return yuan(obj.allocated)

    @display(description="paid (CNY)")
    def paid_yuan(self, obj):
        return yuan(obj.paid)

    @display(description="payee's loss (CNY)")
    def shortfall_yuan(self, obj):
        return yuan(obj.shortfall)


class AcknowledgeForm(django_forms.Form):
    note = forms.text(max_length=240, required=False, help_text="e.g. a case number")


@admin.register(DoubleSpendAlert)
class DoubleSpendAlertAdmin(ReadOnlyAdmin):
    list_display = [
        "detected_at",
        "shape_badge",
        "key_short",
        "device_id",
        "wallet_number",
        "operator_code",
        "payments",
        "acknowledged",
    ]
    list_filter = ["shape"]
    search_fields = ["device__device_id", "device__wallet__number"]
    ordering = ["-detected_at", "-pk"]
    fields = [
        "detected_at",
        "shape_badge",
        "key",
        "device_id",
        "wallet_number",
        "operator_code",
        "device_state",
        "evidence_list",
        "acknowledged",
        "note",
    ]
    readonly_fields = fields
    actions_detail = ["acknowledge"]

    def get_queryset(self, request):
        return selectors.double_spend_alerts_visible_to(actor(request))

    @display(description="shape", label=SHAPE_LABELS)
    def shape_badge(self, obj):
        return obj.shape

    @display(description="counter / hash")
    def key_short(self, obj):
        return obj.key[:16] + ("…" if len(obj.key) > 16 else "")

    @display(description="device")
    def device_id(self, obj):
        return obj.device.device_id

    @display(description="device state")
    def device_state(self, obj):
        return obj.device.state

    @display(description="wallet")
    def wallet_number(self, obj):
        return obj.device.wallet.number

    @display(description="operator")
    def operator_code(self, obj):
        return obj.device.wallet.operator.code

    @display(description="payments")
    def payments(self, obj):
        return len(obj.evidence)

    @display(description="payments that show it")
    def evidence_list(self, obj):
        return ", ".join(obj.evidence)

    @display(description="acknowledged")
    def acknowledged(self, obj):
        if obj.acknowledged_at is None:
            return "—"
        return f"{obj.acknowledged_at:%Y-%m-%d %H:%M} by {username(obj.acknowledged_by)}"

    def has_acknowledge_permission(self, request, object_id=None) -> bool:
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.change_doublespendalert"):
            return False
        if object_id is None:
            return True
        alert = self.get_object(request, object_id)
        return authority.acknowledges_double_spend_alert(actor(request), alert)

    @action(description="Acknowledge", url_path="acknowledge", permissions=["acknowledge"])
    def acknowledge(self, request, object_id):
        alert = self.scoped_object(request, object_id)

        def perform(data):
            services.double_spend_alert_acknowledge(
                actor=actor(request), alert=alert, note=data["note"]
            )
            return (
                f"double spend by device {alert.device.device_id} acknowledged",
                self.url("change", alert.pk),
                alert,
            )

        return self.run_form(
            request,
            AcknowledgeForm,
            perform,
            title=f"Acknowledge: {alert.get_shape_display()} by device {alert.device.device_id}",
            submit_label="Acknowledge",
            intro="The device stays blocked; its reserve keeps paying its payees' claims as "
            "they sync, first synced first paid.",
            facts=[
                ("wallet", alert.device.wallet.number),
                ("shape", alert.get_shape_display()),
                ("payments", len(alert.evidence)),
            ],
            cancel_url=self.url("change", alert.pk),
        )


class OfflineCapForm(django_forms.Form):
    reserve_cap = forms.YuanField(
        allow_empty=True, label="Offline cap", help_text="yuan; empty or 0: no offline use"
    )


@admin.register(OfflineLimit)
class OfflineLimitAdmin(ConsoleAdmin):
    list_display = ["wallet_class_number", "cap_yuan", "updated_at", "updated_by"]
    ordering = ["wallet_class_id"]
    fields = list_display
    readonly_fields = list_display
    actions_detail = ["edit_cap"]

    @display(description="wallet class", ordering="wallet_class_id")
    def wallet_class_number(self, obj):
        return obj.wallet_class_id

    @display(description="a device may hold offline (CNY)")
    def cap_yuan(self, obj):
        return yuan(obj.reserve_cap)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # edits go through the cap form and its service

    def has_cap_permission(self, request, object_id=None) -> bool:
        return self.visible(request, object_id) and request.user.has_perm(
            "wallets.change_offlinelimit"
        )

    @action(description="Edit cap", url_path="cap", permissions=["cap"], icon="edit")
    def edit_cap(self, request, object_id):
        limit = self.scoped_object(request, object_id)

        def perform(data):
            services.offline_limit_set(
                actor=actor(request),
                wallet_class=limit.wallet_class_id,
                reserve_cap=data["reserve_cap"] or 0,
            )
            return (
                f"offline cap of class {limit.wallet_class_id} changed; loads follow it",
                self.url("change", limit.pk),
                limit,
            )

        return self.run_form(
            request,
            OfflineCapForm,
            perform,
            initial={"reserve_cap": limit.reserve_cap},
            title=f"Offline cap of class {limit.wallet_class_id}",
            submit_label="Save cap",
            intro="The most a hardware wallet of the class may hold offline. Loads from now "
            "on are held to it; a device holding more keeps it but loads nothing more.",
            cancel_url=self.url("change", limit.pk),
        )
