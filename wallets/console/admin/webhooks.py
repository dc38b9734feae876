"""Webhooks' pages: a merchant's endpoints (registered, their secret rotated, switched off by
the merchant's own staff) and the deliveries of its events, each with the body sent and the
log of every attempt, redelivered by the merchant's staff.

Scoped like every merchant page: the central bank sees every merchant's, an operator's
staff their merchants', a merchant's staff their own; only the merchant's staff act. A
secret is shown once, on the answer page of the action that made it, and on no other page.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from unfold.decorators import action, display

from settlement.models import Transfer
from wallets import authority, selectors, services
from wallets.console import forms
from wallets.console.admin.merchants import link, own_merchant
from wallets.console.base import ConsoleAdmin, ReadOnlyAdmin, actor, admin_url
from wallets.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from wallets.services.webhooks import ENDPOINTS_PER_MERCHANT

DELIVERY_STATE_LABELS = {
    DeliveryState.PENDING: "warning",
    DeliveryState.DELIVERED: "success",
    DeliveryState.FAILED: "danger",
}


def when(moment) -> str:
    return "—" if moment is None else formats.localize(timezone.localtime(moment))


def deliveries_url(**filters) -> str:
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return f"{admin_url(WebhookDelivery, 'changelist')}?{query}"


class MerchantFilter(admin.SimpleListFilter):
    """The merchants with webhooks in the caller's scope (endpoints are few; a filter over
    the deliveries themselves would read them all to name its choices)."""

    title = "merchant"
    parameter_name = "merchant"
    merchant_field = "merchant_id"

    def lookups(self, request, model_admin):
        return (
            selectors.webhooks_visible_to(actor(request))
            .order_by("merchant__name", "merchant_id")
            .values_list("merchant_id", "merchant__name")
            .distinct()
        )

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(**{self.merchant_field: int(value)})


class DeliveryMerchantFilter(MerchantFilter):
    merchant_field = "endpoint__merchant_id"


# ---------------------------------------------------------------- endpoints


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ConsoleAdmin):
    list_display = [
        "endpoint_url",
        "merchant",
        "active_badge",
        "pending_link",
        "failed_link",
        "created_at",
    ]
    list_filter = ["active"]
    search_fields = ["url", "merchant__name", "merchant__code"]
    ordering = ["-created_at", "-pk"]
    # Never the secret, nor the previous one: they are shown once, when made.
    fields = [
        "endpoint_url",
        "merchant",
        "active_badge",
        "previous_secret_signs",
        "deliveries",
        "created_at",
    ]
    readonly_fields = fields
    actions = None
    actions_detail = ["rotate_secret", "switch_off"]

    def get_queryset(self, request):
        return selectors.webhooks_with_delivery_counts(actor(request)).defer(
            "secret", "previous_secret"
        )

    def get_list_filter(self, request):
        if actor(request).merchant_id is None:
            return [*self.list_filter, MerchantFilter]
        return self.list_filter

    @display(description="URL", ordering="url")
    def endpoint_url(self, obj):
        return obj.url

    @display(description="state", label={"LIVE": "success", "SWITCHED OFF": "danger"})
    def active_badge(self, obj):
        return "LIVE" if obj.active else "SWITCHED OFF"

    @display(description="pending deliveries", ordering="pending")
    def pending_link(self, obj):
        url = deliveries_url(endpoint__id__exact=obj.pk, state__exact=DeliveryState.PENDING)
        return link(url, obj.pending)

    @display(description="failed deliveries", ordering="failed")
    def failed_link(self, obj):
        url = deliveries_url(endpoint__id__exact=obj.pk, state__exact=DeliveryState.FAILED)
        return link(url, obj.failed)

    @display(description="previous secret")
    def previous_secret_signs(self, obj):
        until = obj.previous_secret_until
        if until is None:
            return "never rotated"
        if until <= timezone.now():
            return f"signed until {when(until)}, no longer"
        return f"still signs beside the new one until {when(until)}"

    @display(description="deliveries")
    def deliveries(self, obj):
        return format_html(
            "{} pending, {} failed; {}",
            self.pending_link(obj),
            self.failed_link(obj),
            link(deliveries_url(endpoint__id__exact=obj.pk), "all of them"),
        )

    def has_add_permission(self, request) -> bool:
        """Registering: a merchant's staff, for their own merchant."""
        if not request.user.has_perm("wallets.add_webhookendpoint"):
            return False
        return own_merchant(actor(request)) is not None

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # rotating and switching off are the actions below

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # switched off instead: its deliveries' log stays

    def has_act_permission(self, request, object_id=None) -> bool:
        """The buttons show to the merchant's own staff (wallets.authority); the service
        still decides."""
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.change_webhookendpoint"):
            return False
        if object_id is None:
            return True
        return authority.acts_for_merchant(
            actor(request), self.get_object(request, object_id).merchant
        )

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        who = actor(request)
        merchant = own_merchant(who)

        def perform(data):
            endpoint = services.webhook_register(actor=who, url=data["url"])
            return (
                f"webhook {endpoint.url} registered",
                dict(
                    title=f"Webhook of {merchant.name} registered",
                    intro="Events are signed with this secret from now on (the "
                    "Ecny-Signature header). Put it in the merchant's server now: it is shown "
                    "once, and after a rotation only the new one is shown.",
                    facts=[
                        ("merchant", merchant.name),
                        ("URL", endpoint.url),
                        ("secret", endpoint.secret),
                    ],
                    back_url=self.url("change", endpoint.pk),
                ),
                endpoint,
            )

        return self.run_secret_form(
            request,
            forms.WebhookEndpointForm,
            perform,
            log=self.log_addition,
            title=f"Register a webhook of {merchant.name}",
            submit_label="Register",
            intro="The URL receives the merchant's payments and refunds as they settle or are "
            f"rejected, signed; at most {ENDPOINTS_PER_MERCHANT} live at "
            "once.",
            cancel_url=self.url("changelist"),
        )

    @action(description="Rotate the secret", url_path="rotate", permissions=["act"], icon="key")
    def rotate_secret(self, request, object_id):
        endpoint = self.scoped_object(request, object_id)

        def perform(data):
            rotated = services.webhook_rotate_secret(actor=actor(request), endpoint=endpoint)
            until = when(rotated.previous_secret_until)
            return (
                f"secret of webhook {rotated.url} rotated; the previous one signs until {until}",
                dict(
                    title=f"New secret of {rotated.url}",
                    intro="Put the new secret in the merchant's server now: it is shown once. "
                    f"Until {until} events carry a signature by the previous secret as well, "
                    "so the server accepts them whichever secret it holds meanwhile.",
                    facts=[
                        ("URL", rotated.url),
                        ("secret", rotated.secret),
                        ("previous secret signs until", until),
                    ],
                    back_url=self.url("change", rotated.pk),
                ),
                rotated,
            )

        return self.run_secret_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"Rotate the secret of {endpoint.url}",
            submit_label="Rotate",
            intro="A new secret signs every event from now on; the current one still signs "
            "beside it for a grace period, then no more.",
            facts=[("merchant", endpoint.merchant.name), ("URL", endpoint.url)],
            cancel_url=self.url("change", endpoint.pk),
        )

    @action(description="Switch off", url_path="switch-off", permissions=["act"], icon="block")
    def switch_off(self, request, object_id):
        endpoint = self.scoped_object(request, object_id)

        def perform(data):
            services.webhook_disable(actor=actor(request), endpoint=endpoint)
            return (
                f"webhook {endpoint.url} switched off; what was pending for it is given up",
                self.url("change", endpoint.pk),
                endpoint,
            )

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"Switch off {endpoint.url}",
            submit_label="Switch off",
            intro="No more events go to this URL, and those still being tried are given up. "
            "Its deliveries and their log stay; register a URL again to receive events.",
            facts=[
                ("merchant", endpoint.merchant.name),
                ("state", self.active_badge(endpoint)),
                ("pending deliveries", endpoint.pending),
            ],
            cancel_url=self.url("change", endpoint.pk),
        )


# ---------------------------------------------------------------- deliveries


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "delivery",
        "event_type",
        "merchant",
        "endpoint_url",
        "state_badge",
        "attempts",
        "next_attempt",
        "delivered_at",
        "created_at",
    ]
    list_display_links = ["delivery"]
    list_filter = ["state", "event__type"]
    search_fields = ["=event__transfer__id", "endpoint__url", "endpoint__merchant__name"]
    ordering = ["-pk"]
    fields = [
        "event_type",
        "merchant",
        "endpoint_link",
        "state_badge",
        "attempts",
        "next_attempt",
        "delivered_at",
        "created_at",
        "transfer",
        "other_deliveries",
        "body",
        "attempt_log_table",
    ]
    readonly_fields = fields
    actions_detail = ["redeliver"]

    def get_queryset(self, request):
        return selectors.webhook_deliveries_visible_to(actor(request)).defer(
            "endpoint__secret", "endpoint__previous_secret"
        )

    def get_list_filter(self, request):
        if actor(request).merchant_id is None:
            return [*self.list_filter, DeliveryMerchantFilter]
        return self.list_filter

    @display(description="delivery", ordering="pk")
    def delivery(self, obj):
        return f"#{obj.pk}"

    @display(description="event", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @display(description="merchant", ordering="endpoint__merchant__name")
    def merchant(self, obj):
        return obj.endpoint.merchant.name

    @display(description="endpoint", ordering="endpoint__url")
    def endpoint_url(self, obj):
        return obj.endpoint.url

    @display(description="endpoint")
    def endpoint_link(self, obj):
        endpoint = obj.endpoint
        shown = endpoint.url if endpoint.active else f"{endpoint.url} (switched off)"
        return link(admin_url(WebhookEndpoint, "change", endpoint.pk), shown)

    @display(description="state", label=DELIVERY_STATE_LABELS, ordering="state")
    def state_badge(self, obj):
        return obj.state

    @display(description="next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj):
        return when(obj.next_attempt_at) if obj.state == DeliveryState.PENDING else "—"

    @display(description="transfer")
    def transfer(self, obj):
        # The merchant's staff see the transfers into and out of their wallet.
        return link(
            admin_url(Transfer, "change", obj.event.transfer_id), f"#{obj.event.transfer_id}"
        )

    @display(description="deliveries of this event")
    def other_deliveries(self, obj):
        others = (
            WebhookDelivery.objects.filter(event_id=obj.event_id)
            .exclude(pk=obj.pk)
            .only("pk", "state", "endpoint_id")
            .order_by("pk")
        )
        return (
            format_html_join(
                ", ",
                "{}",
                (
                    (link(self.url("change", other.pk), f"#{other.pk} {other.state}"),)
                    for other in others
                ),
            )
            or "none other"
        )

    @display(description="body sent (these exact bytes are signed)")
    def body(self, obj):
        return format_html(
            '<pre id="event-body" style="white-space:pre-wrap;word-break:break-all">{}</pre>',
            services.event_body(obj.event).decode(),
        )

    @display(description="attempts made")
    def attempt_log_table(self, obj):
        attempts = obj.attempt_log.all()
        if not attempts:
            return "none yet"
        rows = format_html_join(
            "",
            '<tr><td class="pr-4">{}</td><td class="pr-4">{}</td><td class="pr-4">{}</td>'
            '<td class="pr-4">{}</td><td>{} ms</td></tr>',
            (
                (
                    number,
                    when(attempt.at),
                    attempt.status_code or "—",
                    attempt.error or "—",
                    attempt.duration_ms,
                )
                for number, attempt in enumerate(attempts, start=1)
            ),
        )
        return format_html(
            '<table id="attempt-log"><thead><tr><th class="pr-4 text-left">#</th>'
            '<th class="pr-4 text-left">at</th><th class="pr-4 text-left">HTTP status</th>'
            '<th class="pr-4 text-left">error</th><th class="text-left">duration</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    def has_redeliver_permission(self, request, object_id=None) -> bool:
        """The merchant's own staff; its operator and the central bank look only."""
        self.visible(request, object_id)
        if not request.user.has_perm("wallets.change_webhookdelivery"):
            return False
        if object_id is None:
            return True
        return authority.acts_for_merchant(
            actor(request), self.get_object(request, object_id).endpoint.merchant
        )

    @action(description="Redeliver", url_path="redeliver", permissions=["redeliver"], icon="replay")
    def redeliver(self, request, object_id):
        delivery = self.scoped_object(request, object_id)
        event = delivery.event

        def perform(data):
            again = services.webhook_redeliver(actor=actor(request), delivery=delivery)
            if again.pk == delivery.pk:
                return (
                    f"delivery #{delivery.pk} is tried again now",
                    self.url("change", delivery.pk),
                    delivery,
                )
            return (
                f"event {event.type} of transfer #{event.transfer_id} redelivered as "
                f"delivery #{again.pk}",
                self.url("change", again.pk),
                delivery,
                again,
            )

        return self.run_form(
            request,
            forms.ConfirmForm,
            perform,
            title=f"Redeliver {event.type} of transfer #{event.transfer_id}",
            submit_label="Redeliver",
            intro="A delivered or failed event is sent again as a new delivery to the same "
            "URL, with the same body and event id (this one's log stays as it is); one still "
            "pending is tried now.",
            facts=[
                ("endpoint", delivery.endpoint.url),
                ("state", delivery.get_state_display()),
                ("attempts", delivery.attempts),
            ],
            cancel_url=self.url("change", delivery.pk),
        )
