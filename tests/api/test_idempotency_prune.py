"""Idempotency-Key records are forgotten after their retention; a payment retried after
that still happens once, through the ledger's own key."""

from datetime import timedelta

import pytest
from django.utils import timezone

from settlement.models import Transfer
from tests.helpers import balance
from wallets import services
from wallets.actors import Actor
from wallets.exceptions import WalletError
from wallets.models import IdempotencyRecord


def pay(api, key):
    return api.client("alice").post(
        "/api/v1/transfers",
        {"payer": api.number("alice"), "payee": api.number("shop"), "amount": "2.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def age(key: str, hours: float) -> None:
    IdempotencyRecord.objects.filter(key=key).update(
        created_at=timezone.now() - timedelta(hours=hours)
    )


def test_records_past_their_retention_are_pruned_and_younger_ones_kept(api, settings):
    settings.EWALLET_IDEMPOTENCY_RETENTION_HOURS = 24
    for key in ("old", "young"):
        assert pay(api, key).status_code in (201, 202)
    age("old", 24.01)
    age("young", 23.99)
    assert services.idempotency_records_prune(actor=Actor.system()) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["young"]
    # The young one still replays its first answer.
    assert pay(api, "young")["Idempotent-Replayed"] == "true"


def test_a_payment_retried_after_its_record_was_pruned_is_not_paid_twice(api):
    first = pay(api, "retry")
    age("retry", 25)
    services.idempotency_records_prune(actor=Actor.system())
    again = pay(api, "retry")
    # Answered afresh (no replay header), about the same transfer.
    assert again.status_code in (200, 201, 202) and "Idempotent-Replayed" not in again
    assert again.json()["id"] == first.json()["id"]
    assert Transfer.objects.filter(idempotency_key__endswith=":retry").count() == 1
    assert balance(api.wallets["shop"]) == 200


def test_only_the_system_prunes(api):
    with pytest.raises(WalletError) as refused:
        services.idempotency_records_prune(actor=api.actors["icbc_staff"])
    assert refused.value.code == "PERMISSION_DENIED"


def test_a_large_backlog_is_pruned_in_chunks(api, monkeypatch):
    from wallets.services import housekeeping

    monkeypatch.setattr(housekeeping, "PRUNE_CHUNK", 3)
    user = api.users["alice"]
    old = timezone.now() - timedelta(days=3)
    IdempotencyRecord.objects.bulk_create(
        IdempotencyRecord(user=user, key=f"b{n}", request_hash="x", created_at=old)
        for n in range(10)
    )
    assert services.idempotency_records_prune(actor=Actor.system()) == 10
    assert not IdempotencyRecord.objects.exists()
