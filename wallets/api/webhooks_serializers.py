"""What the webhooks API accepts (`*In`, strict) and answers (`*Out`): a merchant's
endpoints (the secret only where it was just made), their deliveries, each delivery's
event and its attempt log."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallets.api.fields import Instant, StrictSerializer
from wallets.models import DeliveryState, WebhookEventType

# ---------------------------------------------------------------- endpoints


class WebhookIn(StrictSerializer):
    url = serializers.CharField(
        help_text="where events are POSTed: http:// or https://, its host resolving to no "
        "link-local, multicast or reserved address (400 WEBHOOK_TARGET_REFUSED)"
    )


class WebhookOut(serializers.Serializer):
    # An endpoint (merchant selected). Never its secret: see WebhookSecretOut.

    id = serializers.IntegerField()
    merchant = serializers.CharField(source="merchant.code")
    url = serializers.CharField()
    active = serializers.BooleanField(help_text="false once switched off: it is sent nothing")
    previous_secret_until = Instant(
        allow_null=True,
        help_text="after a rotation: until when the previous secret still signs beside the new one",
    )
    created_at = Instant()


class WebhookSecretOut(WebhookOut):
    # An endpoint just registered, or its secret just rotated: the one answer that shows it.

    secret = serializers.CharField(
        help_text="signs every delivery (whsec_…): shown when the endpoint is registered and "
        "when it is rotated, never by GET"
    )


# ---------------------------------------------------------------- deliveries


class WebhookEventOut(serializers.Serializer):
    # What the merchant's server receives as the body (services.event_body), as JSON.

    id = serializers.IntegerField(help_text="the same on every delivery of the event")
    type = serializers.ChoiceField(choices=WebhookEventType.choices)
    created_at = Instant()
    data = serializers.JSONField(source="payload")


class WebhookAttemptOut(serializers.Serializer):
    at = Instant()
    status_code = serializers.IntegerField(
        allow_null=True, help_text="none when no answer came (refused, timed out)"
    )
    error = serializers.CharField(help_text="empty when delivered (any 2xx)")
    duration_ms = serializers.IntegerField()


class WebhookDeliveryOut(serializers.Serializer):
    # A delivery from selectors.webhook_deliveries_visible_to (event, endpoint and merchant
    # selected).

    id = serializers.IntegerField()
    endpoint = serializers.IntegerField(source="endpoint_id")
    url = serializers.CharField(source="endpoint.url")
    merchant = serializers.CharField(source="endpoint.merchant.code")
    state = serializers.ChoiceField(
        choices=DeliveryState.choices,
        help_text="PENDING: retried with backoff; DELIVERED: a 2xx came back; FAILED: given "
        "up (retries ran out, or the endpoint was switched off)",
    )
    attempts = serializers.IntegerField(help_text="how many attempts were made")
    next_attempt_at = serializers.SerializerMethodField(help_text="none unless PENDING")
    delivered_at = Instant(allow_null=True)
    created_at = Instant()
    event = WebhookEventOut()

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_attempt_at(self, delivery) -> str | None:
        if delivery.state != DeliveryState.PENDING:
            return None
        return Instant().to_representation(delivery.next_attempt_at)


class WebhookDeliveryDetailOut(WebhookDeliveryOut):
    # One delivery, its attempt log prefetched.

    attempt_log = WebhookAttemptOut(many=True, help_text="every attempt, oldest first")


class WebhookDeliveryQuery(serializers.Serializer):
    # Each field's source is the filter it becomes: deliveries.filter(**query).

    state = serializers.ChoiceField(choices=DeliveryState.choices, required=False)
    type = serializers.ChoiceField(
        source="event__type",
        choices=WebhookEventType.choices,
        required=False,
        help_text="the event's type",
    )


class WebhookDeliveriesQuery(WebhookDeliveryQuery):
    endpoint = serializers.IntegerField(
        source="endpoint_id", min_value=1, required=False, help_text="one endpoint's id"
    )
