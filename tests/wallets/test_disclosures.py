"""Disclosing who is behind an anonymous holder's pseudonym, as worked examples.

ICBC onboards Anon by phone number only: the central bank knows a pseudonym. A
central-bank issuer asks to disclose the identity behind it for a court order; one
approver approves, and the identity is still refused (DISCLOSURE_NOT_APPROVED, 1 of 2);
a second, different approver approves, and then the requester and the approvers, and
nobody else, read ICBC's record of Anon: name and phone. Every step and every reading is
an event in the audit log, which names Anon by pseudonym only and verifies. Then every
refusal, each with its code and nothing changed.
"""

import base64
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from ewallet.errors import EwalletError
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.proofs import audit_export
from settlement.audit.verify import audit_verify
from settlement.models import AuditEvent, AuditLeaf
from tests.helpers import actor_with
from wallets import services
from wallets.actors import Actor
from wallets.models import DisclosureApproval, DisclosureState, IdentityDisclosure, KycMethod
from wallets.roles import Role

PHONE = "13800138000"
COURT_ORDER = "Shenzhen Futian court order (2026) Yue 0304 No. 123"


class People:
    def __init__(self, world):
        self.world = world
        self.issuer = world.maker
        self.approver = world.checker
        self.second_approver = actor_with("checker2", Role.CB_APPROVER)
        self.third_approver = actor_with("checker3", Role.CB_APPROVER)
        self.auditor = actor_with("auditor", Role.CB_AUDITOR)
        self.policy = world.policy
        self.icbc = world.staff_of["ICBC"]
        self.ccb = world.staff_of["CCB"]
        self.anon = services.holder_onboard(
            actor=self.icbc, display_name="Anon", kyc_method=KycMethod.PHONE_ONLY, phone=PHONE
        ).holder


@pytest.fixture
def people(world, audit_key):
    return People(world)


def refused(code: str, call, **kwargs) -> EwalletError:
    with pytest.raises(EwalletError) as caught:
        call(**kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def requested(people, reason=COURT_ORDER) -> IdentityDisclosure:
    return services.identity_disclosure_request(
        actor=people.issuer, pseudonym=people.anon.pseudonym, reason=reason
    )


def approved(people) -> IdentityDisclosure:
    disclosure = requested(people)
    for approver in (people.approver, people.second_approver):
        services.identity_disclosure_approve(actor=approver, disclosure_id=disclosure.pk)
    return disclosure


def read(actor, disclosure):
    return services.identity_disclosure_read(actor=actor, disclosure_id=disclosure.pk)


def events(disclosure) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(data__disclosure=disclosure.pk)
        .order_by("pk")
        .values_list("kind", "data__by")
    )


def test_two_approvals_disclose_the_identity_to_requester_and_approvers_only(people):
    disclosure = requested(people)
    assert (disclosure.status(), disclosure.approvals_needed) == ("REQUESTED", 2)

    # One approval is not enough: the identity is refused to all, the approver included.
    services.identity_disclosure_approve(actor=people.approver, disclosure_id=disclosure.pk)
    for who in (people.issuer, people.approver):
        error = refused(
            "DISCLOSURE_NOT_APPROVED",
            services.identity_disclosure_read,
            actor=who,
            disclosure_id=disclosure.pk,
        )
        assert error.status == 409
        assert error.extra == {"state": "REQUESTED", "approvals": 1, "approvals_needed": 2}
        assert "Anon" not in str(error) and PHONE not in str(error)

    done = services.identity_disclosure_approve(
        actor=people.second_approver, disclosure_id=disclosure.pk
    )
    assert done.status() == DisclosureState.APPROVED
    assert done.access_until - done.decided_at == timedelta(days=30)

    for who in (people.issuer, people.approver, people.second_approver):
        identity = read(who, disclosure)
        assert (identity.name, identity.phone, identity.operator) == ("Anon", PHONE, "ICBC")
        assert identity.pseudonym == people.anon.pseudonym
        assert identity.wallets == [people.anon.wallets.get().number]
    # Seeing the request is not reading the identity: the rest of the central bank may not.
    for who in (people.auditor, people.policy, people.third_approver):
        refused(
            "PERMISSION_DENIED",
            services.identity_disclosure_read,
            actor=who,
            disclosure_id=disclosure.pk,
        )

    assert events(disclosure) == [
        ("identity_disclosure.requested", "maker"),
        ("identity_disclosure.approved", "checker"),
        ("identity_disclosure.approved", "checker2"),
        ("identity_disclosure.read", "maker"),
        ("identity_disclosure.read", "checker"),
        ("identity_disclosure.read", "checker2"),
    ]
    # The log names the holder by pseudonym, never by what was disclosed; and it verifies,
    # checkpoint and all.
    logged = b"".join(
        bytes(row)
        for row in AuditLeaf.objects.filter(event__isnull=False).values_list(
            "leaf_bytes", flat=True
        )
    )
    assert people.anon.pseudonym.encode() in logged and COURT_ORDER.encode() in logged
    assert b"Anon" not in logged and PHONE.encode() not in logged
    checkpoint_seal()
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.events == 6
    # The log's export for third parties likewise.
    exported = io.StringIO()
    audit_export(exported)
    leaves = [json.loads(line) for line in exported.getvalue().splitlines()]
    entries = [base64.b64decode(r["leaf"]) for r in leaves if r["type"] == "leaf"]
    assert any(people.anon.pseudonym.encode() in entry for entry in entries)
    assert not any(b"Anon" in entry or PHONE.encode() in entry for entry in entries)


def test_the_requester_cannot_approve_or_reject_even_holding_both_roles(people):
    people.issuer.user.groups.add(Group.objects.get(name=Role.CB_APPROVER))
    both = Actor.of(people.issuer.user)
    disclosure = services.identity_disclosure_request(
        actor=both, pseudonym=people.anon.pseudonym, reason=COURT_ORDER
    )
    error = refused(
        "MAKER_CHECKER",
        services.identity_disclosure_approve,
        actor=both,
        disclosure_id=disclosure.pk,
    )
    assert error.status == 403
    refused(
        "MAKER_CHECKER",
        services.identity_disclosure_reject,
        actor=both,
        disclosure_id=disclosure.pk,
        reason="changed my mind",
    )
    assert not disclosure.approvals.exists()
    # And the database refuses it too, whatever a service would do.
    with pytest.raises(IntegrityError), transaction.atomic():
        DisclosureApproval.objects.create(
            disclosure=disclosure, approver=both.user, requested_by=both.user
        )


def test_one_approver_counts_once(people):
    disclosure = requested(people)
    services.identity_disclosure_approve(actor=people.approver, disclosure_id=disclosure.pk)
    refused(
        "DUPLICATE_APPROVAL",
        services.identity_disclosure_approve,
        actor=people.approver,
        disclosure_id=disclosure.pk,
    )
    disclosure.refresh_from_db()
    assert (disclosure.status(), disclosure.approvals.count()) == ("REQUESTED", 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        DisclosureApproval.objects.create(
            disclosure=disclosure, approver=people.approver.user, requested_by=people.issuer.user
        )


def test_a_decided_disclosure_takes_no_more_decisions(people):
    disclosure = approved(people)
    for call, kwargs in (
        (services.identity_disclosure_approve, {}),
        (services.identity_disclosure_reject, {"reason": "too late"}),
    ):
        error = refused(
            "DISCLOSURE_DECIDED",
            call,
            actor=people.third_approver,
            disclosure_id=disclosure.pk,
            **kwargs,
        )
        assert error.extra == {"state": "APPROVED"}
    assert disclosure.approvals.count() == 2


def test_one_rejection_ends_it_whatever_approvals_came_before(people):
    disclosure = requested(people)
    services.identity_disclosure_approve(actor=people.approver, disclosure_id=disclosure.pk)
    refused(
        "INVALID_INPUT",
        services.identity_disclosure_reject,
        actor=people.second_approver,
        disclosure_id=disclosure.pk,
        reason="  ",
    )
    rejected = services.identity_disclosure_reject(
        actor=people.second_approver,
        disclosure_id=disclosure.pk,
        reason="the order names another number",
    )
    assert (rejected.status(), rejected.rejected_by, rejected.access_until) == (
        "REJECTED",
        people.second_approver.user,
        None,
    )
    refused(
        "DISCLOSURE_DECIDED",
        services.identity_disclosure_approve,
        actor=people.third_approver,
        disclosure_id=disclosure.pk,
    )
    error = refused(
        "DISCLOSURE_NOT_APPROVED",
        services.identity_disclosure_read,
        actor=people.approver,
        disclosure_id=disclosure.pk,
    )
    assert error.extra["state"] == "REJECTED"
    assert events(disclosure)[-1] == ("identity_disclosure.rejected", "checker2")


def test_an_unapproved_request_lapses_and_an_approved_one_is_read_only_for_a_while(people):
    lapsed = requested(people)
    IdentityDisclosure.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now())
    refused(
        "DISCLOSURE_EXPIRED",
        services.identity_disclosure_approve,
        actor=people.approver,
        disclosure_id=lapsed.pk,
    )
    error = refused(
        "DISCLOSURE_NOT_APPROVED",
        services.identity_disclosure_read,
        actor=people.issuer,
        disclosure_id=lapsed.pk,
    )
    assert error.extra["state"] == "EXPIRED"

    disclosure = approved(people)
    IdentityDisclosure.objects.filter(pk=disclosure.pk).update(access_until=timezone.now())
    before = AuditEvent.objects.count()
    refused(
        "DISCLOSURE_EXPIRED",
        services.identity_disclosure_read,
        actor=people.issuer,
        disclosure_id=disclosure.pk,
    )
    assert AuditEvent.objects.count() == before  # a refused reading reads nothing


def test_who_may_ask_and_decide(people):
    for who in (people.approver, people.auditor, people.policy, people.icbc):
        refused(
            "PERMISSION_DENIED",
            services.identity_disclosure_request,
            actor=who,
            pseudonym=people.anon.pseudonym,
            reason=COURT_ORDER,
        )
    disclosure = requested(people)
    for who in (people.issuer, people.auditor, people.policy, people.icbc, people.ccb):
        refused(
            "PERMISSION_DENIED",
            services.identity_disclosure_approve,
            actor=who,
            disclosure_id=disclosure.pk,
        )
    # Operator staff and holders do not learn a disclosure exists, whichever they ask for.
    for disclosure_id in (disclosure.pk, 999_999):
        for call in (services.identity_disclosure_read, services.identity_disclosure_approve):
            refused("PERMISSION_DENIED", call, actor=people.icbc, disclosure_id=disclosure_id)
    refused(
        "NOT_FOUND",
        services.identity_disclosure_approve,
        actor=people.approver,
        disclosure_id=999_999,
    )
    refused(
        "NOT_FOUND", services.identity_disclosure_read, actor=people.issuer, disclosure_id=999_999
    )


def test_only_an_anonymous_holder_is_disclosed_and_only_for_a_reason(people):
    alice = people.world.wallet("Alice", klass=2).holder  # named: the central bank knows her
    error = refused(
        "INVALID_INPUT",
        services.identity_disclosure_request,
        actor=people.issuer,
        pseudonym=alice.pseudonym,
        reason=COURT_ORDER,
    )
    assert error.extra == {"field": "holder"}
    refused(
        "INVALID_INPUT",
        services.identity_disclosure_request,
        actor=people.issuer,
        pseudonym=people.anon.pseudonym,
        reason=" ",
    )
    refused(
        "NOT_FOUND",
        services.identity_disclosure_request,
        actor=people.issuer,
        pseudonym="h_000000000000000000000000",
        reason=COURT_ORDER,
    )
    assert not IdentityDisclosure.objects.exists() and not AuditEvent.objects.exists()


@override_settings(EWALLET_DISCLOSURE_APPROVALS=3)
def test_the_number_of_approvals_is_configured_and_fixed_when_asked(people):
    disclosure = requested(people)
    for approver in (people.approver, people.second_approver):
        services.identity_disclosure_approve(actor=approver, disclosure_id=disclosure.pk)
    error = refused(
        "DISCLOSURE_NOT_APPROVED",
        services.identity_disclosure_read,
        actor=people.issuer,
        disclosure_id=disclosure.pk,
    )
    assert (error.extra["approvals"], error.extra["approvals_needed"]) == (2, 3)
    services.identity_disclosure_approve(actor=people.third_approver, disclosure_id=disclosure.pk)
    assert read(people.issuer, disclosure).phone == PHONE


def test_the_database_refuses_fewer_than_two_approvals_needed(people):
    disclosure = requested(people)
    with pytest.raises(IntegrityError), transaction.atomic():
        IdentityDisclosure.objects.filter(pk=disclosure.pk).update(approvals_needed=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_approvals_are_counted_once_each(audit_key):
    """On PostgreSQL: four approvers at once, then one approver four times at once. The
    row lock serialises them: two approvals make it APPROVED and the others find it
    decided; one approver's repeated approval counts once."""
    from collections import Counter

    from tests.helpers import World
    from tests.settlement.test_postgres import in_threads

    people = People(World.build())
    approvers = [people.approver, people.second_approver, people.third_approver]
    approvers.append(actor_with("checker4", Role.CB_APPROVER))

    def outcome(call) -> str:
        try:
            call()
        except EwalletError as error:
            return str(error.code)
        return "ok"

    disclosure = requested(people)
    results = Counter(
        in_threads(
            4,
            lambda i: outcome(
                lambda: services.identity_disclosure_approve(
                    actor=approvers[i], disclosure_id=disclosure.pk
                )
            ),
        )
    )
    assert results == {"ok": 2, "DISCLOSURE_DECIDED": 2}
    disclosure.refresh_from_db()
    assert (disclosure.state, disclosure.approvals.count()) == ("APPROVED", 2)

    again = requested(people)
    results = Counter(
        in_threads(
            4,
            lambda i: outcome(
                lambda: services.identity_disclosure_approve(
                    actor=people.approver, disclosure_id=again.pk
                )
            ),
        )
    )
    assert results == {"ok": 1, "DUPLICATE_APPROVAL": 3}
    assert again.approvals.count() == 1
    assert audit_verify().ok
