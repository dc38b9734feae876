"""What the identity-disclosure API accepts (`*In`, strict) and answers (`*Out`)."""

from rest_framework import serializers

from wallets.api.fields import Instant, StrictSerializer
from wallets.models import DisclosureState, KycMethod


class DisclosureIn(StrictSerializer):
    holder = serializers.RegexField(
        r"^h_[0-9a-f]{24}$",
        max_length=32,
        help_text="the anonymous holder's pseudonymous id, as the central bank knows them",
    )
    reason = serializers.CharField(
        max_length=240, help_text="why, e.g. the court order's or the AML case's reference"
    )


class DisclosureQuery(serializers.Serializer):
    state = serializers.ChoiceField(choices=DisclosureState.choices, required=False)
    holder = serializers.CharField(max_length=32, required=False, help_text="a pseudonymous id")


class ApprovalOut(serializers.Serializer):
    approver = serializers.CharField(source="approver.username")
    approved_at = Instant()


class DisclosureOut(serializers.Serializer):
    # An IdentityDisclosure from selectors.identity_disclosures_visible_to: the request,
    # never the identity (that is `/identity`, for its requester and approvers).

    id = serializers.IntegerField()
    holder = serializers.CharField(source="holder.pseudonym", help_text="pseudonymous id")
    operator = serializers.CharField(
        source="holder.operator.code", help_text="the operator that holds the KYC record"
    )
    reason = serializers.CharField()
    state = serializers.SerializerMethodField(
        help_text="REQUESTED, then APPROVED (enough approvals) or REJECTED (one rejection); "
        "EXPIRED if not approved by `expires_at`"
    )
    requested_by = serializers.CharField(source="requested_by.username")
    requested_at = Instant()
    expires_at = Instant(help_text="a request not approved by then lapses")
    approvals_needed = serializers.IntegerField(
        help_text="distinct central-bank approvers it takes, none of them the requester"
    )
    approvals = ApprovalOut(many=True, source="approvals.all")
    decided_at = Instant(allow_null=True)
    access_until = Instant(
        allow_null=True, help_text="once approved: the identity may be read until then"
    )
    rejected_by = serializers.CharField(source="rejected_by.username", allow_null=True)
    rejection_reason = serializers.CharField()

    def get_state(self, disclosure) -> str:
        return str(disclosure.status())


class DisclosedIdentityOut(serializers.Serializer):
    # A services.DisclosedIdentity: the operator's KYC record behind the pseudonym.

    disclosure = serializers.IntegerField(source="disclosure.pk")
    holder = serializers.CharField(source="pseudonym", help_text="pseudonymous id")
    operator = serializers.CharField()
    kyc_method = serializers.ChoiceField(choices=KycMethod.choices)
    name = serializers.CharField(help_text="the name the holder gave their operator")
    phone = serializers.CharField()
    kyc_verified_at = Instant()
    wallets = serializers.ListField(child=serializers.CharField(), help_text="their numbers")
    read_at = Instant()
    audit_event = serializers.IntegerField(
        help_text="the audit log's record of this reading (settlement AuditEvent id)"
    )
