"""Audit status: the latest checkpoint and its signature, and "verify now"."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from unfold.decorators import action, display

from wallets import services
from wallets.console import forms
from wallets.console.base import ConsoleAdmin, actor
from wallets.console.selectors import latest_checkpoint_status
from wallets.models import AuditVerification


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
        verification = services.audit_verification_request(actor=actor(request))
        messages.success(request, f"audit verify #{verification.pk} queued")
        return HttpResponseRedirect(self.url("changelist"))
