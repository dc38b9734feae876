"""`audit verify` passes on an honest ledger and names the first thing that was tampered with."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from settlement.audit import leaf
from settlement.audit.verify import audit_verify
from settlement.models import AuditHead, AuditLeaf, Posting, Transfer

# They tamper with the log on purpose, past its append-only triggers.
pytestmark = pytest.mark.usefixtures("audit_rewrites_allowed")


@pytest.fixture
def ledger(world):
    """Six payments, one of them rejected; returns the settled payments in order."""
    alice = world.wallet("Alice", klass=2, load=1_000)
    bob = world.wallet("Bob", klass=3, load=100)
    for amount in (10, 20, 30, 40, 50):
        world.pay(alice, bob, amount)
    world.pay(bob, alice, 99_999)  # rejected: no funds
    return list(Transfer.objects.filter(kind="P2P", state="SETTLED").order_by("id"))


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def leaf_of(transfer: Transfer) -> AuditLeaf:
    return AuditLeaf.objects.get(transfer=transfer)


def test_honest_ledger_verifies_with_counts(ledger):
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.leaves == Transfer.objects.filter(state="SETTLED").count()
    assert report.transfers == Transfer.objects.count()
    assert report.postings == Posting.objects.count()
    assert report.chain_head == bytes(AuditHead.objects.get().chain_hash)
    assert report.totals.balanced


def test_command_prints_counts_and_exits_zero(ledger):
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert "audit verify OK" in out.getvalue()
    assert f"{Transfer.objects.filter(state='SETTLED').count()} leaves" in out.getvalue()


def test_changed_leg_amount_is_named_with_its_leaf(ledger):
    target = ledger[2]
    sql("UPDATE settlement_transferleg SET amount = amount + 1 WHERE transfer_id = %s", [target.pk])
    report = audit_verify()
    assert report.mismatch.check == "leaves"
    assert report.mismatch.index == leaf_of(target).index


def test_changed_posting_amounts_are_named(ledger):
    # Both sides moved by the same amount, with balances to match: the postings still
    # balance (so PostgreSQL's trigger lets it commit) but no longer match the legs.
    target = ledger[1]
    for posting in target.postings.all():
        delta = 100 if posting.amount > 0 else -100
        sql("UPDATE settlement_posting SET amount = amount + %s WHERE id = %s", [delta, posting.pk])
        sql(
            "UPDATE settlement_account SET balance = balance + %s WHERE id = %s",
            [delta, posting.account_id],
        )
    report = audit_verify()
    assert report.mismatch.check == "postings"
    assert report.mismatch.index == leaf_of(target).index


def test_edited_balance_is_named(ledger):
    account_id = ledger[0].postings.first().account_id
    sql("UPDATE settlement_account SET balance = balance + 1 WHERE id = %s", [account_id])
    report = audit_verify()
    assert report.mismatch.check == "balances"
    assert f"account {account_id} " in report.mismatch.detail


def test_leaf_bytes_edited_with_hash_recomputed_breaks_the_chain_or_the_ledger(ledger):
    target = leaf_of(ledger[3])
    forged = bytes(target.leaf_bytes).replace(b'"amount":4000', b'"amount":4001')
    assert forged != bytes(target.leaf_bytes)
    AuditLeaf.objects.filter(pk=target.pk).update(
        leaf_bytes=forged, leaf_hash=leaf.leaf_hash(forged)
    )
    report = audit_verify()
    assert (report.mismatch.check, report.mismatch.index) == ("leaves", target.index)


def test_two_leaves_swapped_is_named(ledger):
    first, second = leaf_of(ledger[0]), leaf_of(ledger[1])
    # Swap their bytes and hashes (keeping indexes), as if history were reordered.
    for this, other in ((first, second), (second, first)):
        AuditLeaf.objects.filter(pk=this.pk).update(
            leaf_bytes=bytes(other.leaf_bytes), leaf_hash=bytes(other.leaf_hash)
        )
    report = audit_verify()
    assert (report.mismatch.check, report.mismatch.index) == ("leaves", first.index)


def test_chain_hash_rewritten_is_named(ledger):
    target = leaf_of(ledger[2])
    AuditLeaf.objects.filter(pk=target.pk).update(chain_hash=bytes(32))
    report = audit_verify()
    assert (report.mismatch.check, report.mismatch.index) == ("chain", target.index)


def test_deleted_transfer_is_named(ledger):
    target = ledger[1]
    index = leaf_of(target).index
    AuditLeaf.objects.filter(transfer=target).delete()
    Posting.objects.filter(transfer=target).delete()
    sql("DELETE FROM settlement_transferleg WHERE transfer_id = %s", [target.pk])
    sql("DELETE FROM settlement_transfer WHERE id = %s", [target.pk])
    report = audit_verify()
    assert report.mismatch.check == "leaves"
    assert report.mismatch.index == index + 1  # the gap is found where the next leaf should be


def test_truncated_log_is_named(ledger):
    last = AuditLeaf.objects.order_by("-index").first()
    last.delete()
    report = audit_verify()
    assert report.mismatch.check == "head"


def test_rejected_transfer_made_settled_is_named(ledger):
    rejected = Transfer.objects.get(state="REJECTED")
    sql(
        "UPDATE settlement_transfer SET state = 'SETTLED', reject_code = '' WHERE id = %s",
        [rejected.pk],
    )
    report = audit_verify()
    assert report.mismatch.check == "coverage"
    assert str(rejected.pk) in report.mismatch.detail


def test_e_cny_issued_without_reserve_is_named(ledger, world):
    # A one-leg "issuance" straight into a vault, bypassing the issuance service: every leaf,
    # posting and balance is consistent, but e-CNY now exceeds its reserve backing.
    from settlement.services import LegSpec, transfer_submit
    from tests.helpers import settle
    from wallets.models import CentralBank

    bank = CentralBank.objects.get()
    transfer_submit(
        kind="ISSUE",
        legs=[LegSpec(bank.issuance_account_id, world.operators["CCB"].vault_account_id, 500)],
        idempotency_key="forged-issue",
    )
    settle()
    report = audit_verify()
    assert report.mismatch.check == "money"


def test_command_fails_naming_the_leaf(ledger):
    target = leaf_of(ledger[0])
    AuditLeaf.objects.filter(pk=target.pk).update(chain_hash=bytes(32))
    with pytest.raises(CommandError, match=f"chain: leaf {target.index}:"):
        call_command("audit", "verify", stdout=io.StringIO())
