"""The central bank's page of identity disclosures: asking who is behind an anonymous
holder's pseudonym (issuers), approving or rejecting (two other approvers), and reading
the identity once approved (its requester and approvers only, each reading logged).

Lists and pages show the request (pseudonym, reason, who asked and approved, and its
events in the audit log), never the identity: that is the "Show identity" page, answered
`no-store`, whose facts are kept nowhere (not in messages, not in the history)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html_join
from unfold.decorators import action, display

from ewallet.errors import EwalletError
from settlement.models import AuditEvent, AuditLeaf
from wallets import authority, selectors, services
from wallets.console import forms
from wallets.console.base import ConsoleAdmin, actor, admin_url
from wallets.models import DisclosureState, Holder, IdentityDisclosure
from wallets.services.disclosures import EVENT_PREFIX

STATE_LABELS = {
    "REQUESTED": "warning",
    "APPROVED": "success",
    "REJECTED": "danger",
    "EXPIRED": "info",
}


class StateFilter(admin.SimpleListFilter):
    """By the state as it reads now (a lapsed request is EXPIRED, which is never stored)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return DisclosureState.choices

    def queryset(self, request, queryset):
        if self.value() in DisclosureState.values:
            return selectors.identity_disclosures_in_state(queryset, self.value())
        return queryset


@admin.register(IdentityDisclosure)
class IdentityDisclosureAdmin(ConsoleAdmin):
    list_display = [
        "id",
        "pseudonym",
        "operator",
        "state_badge",
        "approvals_shown",
        "requested_by",
        "requested_at",
        "expires_at",
        "access_until",
    ]
    list_filter = [StateFilter]
    search_fields = ["holder__pseudonym", "reason"]
    ordering = ["-pk"]
    fields = [
        "pseudonym",
        "operator",
        "reason",
        "state_badge",
        "requested_by",
        "requested_at",
        "expires_at",
        "approvals_shown",
        "approvers",
        "decided_at",
        "access_until",
        "rejected_by",
        "rejection_reason",
        "audit_events",
    ]
    readonly_fields = fields
    actions_detail = ["approve", "reject", "show_identity"]

    def get_queryset(self, request):
        who = actor(request)
        if not authority.sees_disclosures(who):
            return IdentityDisclosure.objects.none()  # the page's permission refuses them
        return selectors.identity_disclosures_visible_to(who)

    @display(description="holder (pseudonym)", ordering="holder__pseudonym")
    def pseudonym(self, obj):
        return obj.holder.pseudonym

    @display(description="operator")
    def operator(self, obj):
        return obj.holder.operator.code

    @display(description="state", label=STATE_LABELS)
    def state_badge(self, obj):
        return obj.status()

    @display(description="approvals")
    def approvals_shown(self, obj):
        return f"{obj.approvals_given} of {obj.approvals_needed}"

    @display(description="approved by")
    def approvers(self, obj):
        rows = obj.approvals.select_related("approver").order_by("approved_at", "pk")
        shown = [f"{a.approver.get_username()} ({a.approved_at:%Y-%m-%d %H:%M})" for a in rows]
        return ", ".join(shown) or "—"

    @display(description="audit log")
    def audit_events(self, obj):
        events = (
            AuditEvent.objects.filter(kind__startswith=EVENT_PREFIX, data__disclosure=obj.pk)
            .select_related("audit_leaf")
            .order_by("pk")
        )
        return (
            format_html_join(
                "",
                '<div><a href="{}">leaf {}</a>: {} by {} at {}</div>',
                (
                    (
                        admin_url(AuditLeaf, "change", event.audit_leaf.pk),
                        event.audit_leaf.pk,
                        event.kind.removeprefix(EVENT_PREFIX),
                        event.data.get("by", "?"),
                        f"{event.at:%Y-%m-%d %H:%M:%S}",
                    )
                    for event in events
                ),
            )
            or "—"
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # decisions are the approve and reject actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _disclosure(self, request, object_id) -> IdentityDisclosure:
        return self.get_object(request, str(object_id))

    def has_decide_permission(self, request, object_id=None) -> bool:
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.change_identitydisclosure"):
            return False
        if object_id is None:
            return True
        disclosure = self._disclosure(request, object_id)
        return disclosure.status() == DisclosureState.REQUESTED and authority.decides_disclosure(
            actor(request), disclosure
        )

    def has_read_permission(self, request, object_id=None) -> bool:
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.view_identitydisclosure"):
            return False
        if object_id is None:
            return True
        disclosure = self._disclosure(request, object_id)
        return disclosure.status() == DisclosureState.APPROVED and (
            authority.reads_disclosed_identity(actor(request), disclosure)
        )

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data):
            made = services.identity_disclosure_request(
                actor=actor(request), pseudonym=data["holder"], reason=data["reason"]
            )
            return (
                f"disclosure {made.pk} of {made.holder.pseudonym} requested: "
                f"{made.approvals_needed} other approvers must approve it",
                self.url("change", made.pk),
                made,
            )

        return self.run_form(
            request,
            forms.DisclosureRequestForm,
            perform,
            initial={"holder": request.GET.get("holder", "")},
            title="Ask to disclose who is behind a pseudonym",
            submit_label="Request disclosure",
            intro="For an anonymous (phone-only) holder. You are the maker: two other "
            "central-bank approvers must approve before you and they can read the identity, "
            "and every step and reading is kept in the audit log.",
            cancel_url=self.url("changelist"),
        )

    def _facts(self, disclosure):
        return [
            ("disclosure", f"#{disclosure.pk}"),
            ("holder", disclosure.holder.pseudonym),
            ("operator", disclosure.holder.operator.code),
            ("reason", disclosure.reason),
            ("requested by", disclosure.requested_by.get_username()),
            ("approvals", f"{disclosure.approvals.count()} of {disclosure.approvals_needed}"),
            ("state", disclosure.status().label),
        ]

    @action(description="Approve", url_path="approve", permissions=["decide"], icon="verified")
    def approve(self, request, object_id):
        disclosure = self.scoped_object(request, object_id)

        def perform(data):
            done = services.identity_disclosure_approve(
                actor=actor(request), disclosure_id=disclosure.pk
            )
            return (
                f"disclosure {done.pk} approved by you: {done.approvals.count()} of "
                f"{done.approvals_needed}, {done.status()}",
                self.url("change", done.pk),
                done,
            )

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"Approve disclosure {disclosure.pk}",
            submit_label="Approve",
            intro="Your approval is recorded in the audit log with your name.",
            facts=self._facts(disclosure),
            cancel_url=self.url("change", disclosure.pk),
        )

    @action(description="Reject", url_path="reject", permissions=["decide"], icon="cancel")
    def reject(self, request, object_id):
        disclosure = self.scoped_object(request, object_id)

        def perform(data):
            services.identity_disclosure_reject(
                actor=actor(request), disclosure_id=disclosure.pk, reason=data["reason"]
            )
            return (
                f"disclosure {disclosure.pk} rejected",
                self.url("change", disclosure.pk),
                disclosure,
            )

        return self.run_form(
            request,
            forms.ReasonForm,
            perform,
            title=f"Reject disclosure {disclosure.pk}",
            submit_label="Reject",
            facts=self._facts(disclosure),
            cancel_url=self.url("change", disclosure.pk),
        )

    @action(description="Show identity", url_path="identity", permissions=["read"], icon="badge")
    def show_identity(self, request, object_id):
        """The identity, on a page of its own (no-store); each showing is an audit event."""
        disclosure = self.scoped_object(request, object_id)
        if request.method != "POST":
            return self.form_page(
                request,
                form=forms.ConfirmForm(),
                title=f"Show the identity behind {disclosure.holder.pseudonym}",
                submit_label="Show identity",
                intro="Reading the identity is recorded in the audit log with your name.",
                facts=self._facts(disclosure),
                cancel_url=self.url("change", disclosure.pk),
            )
        try:
            identity = services.identity_disclosure_read(
                actor=actor(request), disclosure_id=disclosure.pk
            )
        except EwalletError as error:
            form = forms.ConfirmForm(request.POST)
            form.is_valid()
            form.add_error(None, f"{error.code}: {error.message}")
            return self.form_page(
                request,
                form=form,
                title=f"Show the identity behind {disclosure.holder.pseudonym}",
                submit_label="Show identity",
                facts=self._facts(disclosure),
                cancel_url=self.url("change", disclosure.pk),
            )
        return self.secret_page(
            request,
            title=f"Identity behind {identity.pseudonym}",
            intro=f"Disclosure #{disclosure.pk}, read by you at {identity.read_at:%Y-%m-%d %H:%M} "
            f"(audit event {identity.audit_event}). Shown once: it is not kept on this page.",
            facts=[
                ("name", identity.name),
                ("phone", identity.phone),
                ("operator", identity.operator),
                ("KYC", identity.kyc_method),
                ("wallets", ", ".join(identity.wallets) or "—"),
            ],
            back_url=self.url("change", disclosure.pk),
        )


def disclosure_request_url(holder: Holder) -> str:
    return f"{admin_url(IdentityDisclosure, 'add')}?holder={holder.pseudonym}"


__all__ = ["IdentityDisclosureAdmin", "disclosure_request_url"]
