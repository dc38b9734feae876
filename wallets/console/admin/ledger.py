"""The ledger, read-only for everyone (superusers included): transfers with their legs,
postings, audit leaves, checkpoints and signing keys, each scoped to the caller."""

import base64

from django.contrib import admin
from django.utils.html import format_html
from unfold.decorators import display

from settlement.models import AuditLeaf, Checkpoint, Posting, SigningKey, Transfer, TransferLeg
from wallets import selectors
from wallets.console.base import ReadOnlyAdmin, actor, yuan


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
        return selectors.transfers_visible_to(actor(request))

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
        accounts = selectors.accounts_visible_to(actor(request))
        return postings if accounts is None else postings.filter(account__in=accounts)

    @display(description="amount (CNY)", ordering="amount")
    def amount_yuan(self, obj):
        return yuan(obj.amount)


@admin.register(AuditLeaf)
class AuditLeafAdmin(ReadOnlyAdmin):
    # A leaf records a settled transfer or an event (an identity disclosure and its
    # readings): events carry pseudonyms only, and only the central bank opens this page.
    list_display = ["index", "transfer", "event_kind", "leaf_hash_hex", "chain_hash_hex"]
    list_filter = [("event", admin.EmptyFieldListFilter)]
    search_fields = ["=index", "=transfer__id", "event__kind"]
    ordering = ["-index"]
    fields = ["index", "transfer", "event_kind", "entry", "leaf_hash_hex", "chain_hash_hex"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event")

    @display(description="event")
    def event_kind(self, obj):
        return obj.event.kind if obj.event_id else "—"

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
        return base64.b64encode(bytes(obj.root_hash)).decode()

    @display(description="signed note")
    def signed_note(self, obj):
        return format_html("<pre>{}</pre>", obj.note)


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_hash", "name", "created_at", "retired_at"]
    ordering = ["-created_at"]
    exclude = ["public_key"]
