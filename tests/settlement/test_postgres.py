"""What PostgreSQL itself guarantees, and what holds when many connections race.

These tests commit for real (transactional_db): the balance trigger runs at COMMIT, and
threads each use their own connection, as separate settlement workers would.
"""

import random
import threading
from collections import Counter

import pytest
from django.db import IntegrityError, connection, connections, transaction

from ewallet.errors import ErrorCode
from settlement import doorbell
from settlement.audit.verify import audit_verify
from settlement.batch import POSTINGS_BALANCE_PER_STATEMENT, settle_batch
from settlement.exceptions import IdempotencyConflict
from settlement.models import AuditLeaf, Posting, Transfer, TransferKind
from settlement.services import LegSpec, transfer_submit, transfers_settle
from settlement.sql import update_from_values
from tests.helpers import World, balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def in_threads(count: int, work) -> list:
    """Run work(i) in `count` threads started together; return results or raise the first error."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as error:  # handed to the test thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def world():
    return World.build()


@pytest.fixture
def queue_without_doorbell(monkeypatch):
    """Transfers stay RECEIVED until a test settles them (the doorbell would settle at once)."""
    monkeypatch.setattr(doorbell, "ring", lambda: None)


def test_unbalanced_postings_are_refused_at_commit(world):
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")
    settled = world.pay(alice, bob, 10)
    before = Posting.objects.count()

    unbalanced = f"postings of transfer {settled.pk} do not balance"
    with pytest.raises(IntegrityError, match=unbalanced), transaction.atomic():
        sql(
            "INSERT INTO settlement_posting (transfer_id, account_id, asset, amount) "
            "VALUES (%s, %s, 'ECNY', 500)",
            [settled.pk, bob.account_id],
        )

    assert Posting.objects.count() == before
    assert audit_verify().ok


def test_a_balanced_pair_of_postings_commits(world):
    # The control for the test above: the trigger checks sums, not that postings are new.
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")
    settled = world.pay(alice, bob, 10)
    with transaction.atomic():
        for account_id, amount in ((alice.account_id, -500), (bob.account_id, 500)):
            sql(
                "INSERT INTO settlement_posting (transfer_id, account_id, asset, amount) "
                "VALUES (%s, %s, 'ECNY', %s)",
                [settled.pk, account_id, amount],
            )
    assert Posting.objects.filter(transfer=settled).count() == 4
    # ...which audit verify then reports, because the postings no longer match the legs.
    assert audit_verify().mismatch.check == "postings"


def test_a_transfer_checked_once_per_round_is_checked_again_after_more_writes(world):
    # The trigger skips a transfer's second posting in the same firing round; a posting
    # written after the round (here: after SET CONSTRAINTS ... IMMEDIATE) is checked.
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")
    settled = world.pay(alice, bob, 10)
    insert = (
        "INSERT INTO settlement_posting (transfer_id, account_id, asset, amount) "
        "VALUES (%s, %s, 'ECNY', %s)"
    )
    unbalanced = f"postings of transfer {settled.pk} do not balance"
    with pytest.raises(IntegrityError, match=unbalanced), transaction.atomic():
        sql(insert, [settled.pk, alice.account_id, -500])
        sql(insert, [settled.pk, bob.account_id, 500])
        sql("SET CONSTRAINTS ALL IMMEDIATE", [])  # the pair balances: this round passes
        sql("SET CONSTRAINTS ALL DEFERRED", [])
        sql(insert, [settled.pk, bob.account_id, 1])
    assert Posting.objects.filter(transfer=settled).count() == 2
    assert audit_verify().ok


POSTING = "INSERT INTO settlement_posting (transfer_id, account_id, asset, amount) VALUES "


def test_with_the_per_statement_check_an_unbalanced_statement_is_refused_at_once(world):
    # Settlement's mode (migration 0005): each INSERT must balance by itself, not by COMMIT.
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")
    settled = world.pay(alice, bob, 10)
    before = Posting.objects.count()
    with transaction.atomic():
        sql(f"SET LOCAL {POSTINGS_BALANCE_PER_STATEMENT} = on")
        refused = pytest.raises(IntegrityError, match=f"postings of transfer {settled.pk}")
        with refused, transaction.atomic():  # the savepoint: the refusal is immediate
            sql(POSTING + "(%s, %s, 'ECNY', -500)", [settled.pk, alice.account_id])
        # The same pair in one statement balances and is accepted, with no COMMIT check.
        sql(
            POSTING + "(%s, %s, 'ECNY', -500), (%s, %s, 'ECNY', 500)",
            [settled.pk, alice.account_id, settled.pk, bob.account_id],
        )
    assert Posting.objects.count() == before + 2


def test_without_the_setting_postings_may_balance_across_statements_but_not_at_commit(world):
    # The setting is transaction-local: the next transaction is checked at COMMIT again.
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")
    settled = world.pay(alice, bob, 10)
    with transaction.atomic():
        sql(f"SET LOCAL {POSTINGS_BALANCE_PER_STATEMENT} = on")
    with pytest.raises(IntegrityError, match="do not balance"), transaction.atomic():
        sql(POSTING + "(%s, %s, 'ECNY', -500)", [settled.pk, alice.account_id])
    assert Posting.objects.filter(transfer=settled).count() == 2


@pytest.mark.parametrize(
    ("statement", "missing"),
    [
        (
            POSTING + "(%(transfer)s, %(nowhere)s, 'ECNY', -1), (%(transfer)s, %(bob)s, 'ECNY', 1)",
            "account_id",
        ),
        (
            POSTING + "(%(nowhere)s, %(alice)s, 'ECNY', -1), (%(nowhere)s, %(bob)s, 'ECNY', 1)",
            "transfer_id",
        ),
        (
            "UPDATE settlement_posting SET account_id = %(nowhere)s "
            "WHERE transfer_id = %(transfer)s AND amount < 0",
            "account_id",
        ),
        (
            "INSERT INTO settlement_auditleaf (index, transfer_id, leaf_bytes, leaf_hash, "
            "chain_hash) VALUES (1000000, %(nowhere)s, '', '', '')",
            "transfer_id",
        ),
        (
            "UPDATE settlement_auditleaf SET transfer_id = %(nowhere)s "
            "WHERE transfer_id = %(transfer)s",
            "transfer_id",
        ),
    ],
)
def test_a_reference_to_a_missing_row_is_refused(world, audit_rewrites_allowed, statement, missing):
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    settled = world.pay(alice, bob, 10)
    params = {
        "transfer": settled.pk,
        "alice": alice.account_id,
        "bob": bob.account_id,
        "nowhere": 987654321,
    }
    refused = pytest.raises(IntegrityError, match=f"{missing} = 987654321 is not in")
    with refused, transaction.atomic():
        sql(f"SET LOCAL {POSTINGS_BALANCE_PER_STATEMENT} = on")  # balanced: references alone
        sql(statement, params)
    assert audit_verify().ok


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM settlement_account WHERE id = %(account)s",
        "DELETE FROM settlement_transfer WHERE id = %(transfer)s",
        "UPDATE settlement_account SET id = 987654321 WHERE id = %(account)s",
        "UPDATE settlement_transfer SET id = 987654321 WHERE id = %(transfer)s",
    ],
)
def test_referenced_accounts_and_transfers_cannot_go_or_change_id(world, statement):
    alice = world.wallet("Alice", load=100)
    settled = world.pay(alice, world.wallet("Bob"), 10)
    params = {"transfer": settled.pk, "account": alice.account_id}
    refused = pytest.raises(IntegrityError, match=r"still referenced|never changes")
    with refused, transaction.atomic():
        sql(statement, params)
    assert Transfer.objects.filter(pk=settled.pk).exists()
    assert audit_verify().ok


def test_an_unreferenced_transfer_can_still_be_deleted(world, queue_without_doorbell):
    # The control for the test above: the guard looks at references, not at every delete.
    alice = world.wallet("Alice", load=100)
    # Not settled: RECEIVED, no postings, no leaf.
    queued = world.pay_later(alice, world.wallet("Bob"), 1000, idempotency_key="unsettled")
    sql("DELETE FROM settlement_transferleg WHERE transfer_id = %s", [queued.pk])
    sql("DELETE FROM settlement_transfer WHERE id = %s", [queued.pk])
    assert not Transfer.objects.filter(pk=queued.pk).exists()


LEG = (
    "INSERT INTO settlement_transferleg (transfer_id, seq, asset, debit_id, credit_id, amount) "
    "VALUES "
)


@pytest.mark.parametrize(
    "statement",
    [
        LEG + "(%(transfer)s, 1, 'ECNY', %(alice)s, %(nowhere)s, 1)",
        LEG + "(%(transfer)s, 1, 'ECNY', %(nowhere)s, %(bob)s, 1)",
        LEG + "(%(nowhere)s, 0, 'ECNY', %(alice)s, %(bob)s, 1)",
        # One bad row among good ones is found too.
        LEG + "(%(transfer)s, 1, 'ECNY', %(alice)s, %(bob)s, 1), "
        "(%(transfer)s, 2, 'ECNY', %(bob)s, %(nowhere)s, 1)",
        "UPDATE settlement_transferleg SET credit_id = %(nowhere)s "
        "WHERE transfer_id = %(transfer)s",
    ],
)
def test_a_leg_naming_a_missing_account_or_transfer_is_refused_at_once(
    world, queue_without_doorbell, statement
):
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    queued = world.pay_later(alice, bob, 10, idempotency_key="queued")
    params = {
        "transfer": queued.pk,
        "alice": alice.account_id,
        "bob": bob.account_id,
        "nowhere": 987654321,
    }
    # At the statement, not at COMMIT: the check is no longer deferred.
    refused = pytest.raises(IntegrityError, match=r"a leg names an? (account|transfer) that is not")
    with refused, transaction.atomic():
        sql(statement, params)
    assert list(queued.legs.values_list("debit_id", "credit_id")) == [
        (alice.account_id, bob.account_id)
    ]


def test_legs_naming_the_same_accounts_and_transfer_again_are_accepted(
    world, queue_without_doorbell
):
    """The check counts each account and transfer once, however many legs name it."""
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    queued = world.pay_later(alice, bob, 10, idempotency_key="queued")
    legs = [(queued.pk, seq, alice.account_id, bob.account_id) for seq in (1, 3)]
    legs.append((queued.pk, 2, bob.account_id, alice.account_id))
    with transaction.atomic():
        sql(
            LEG + ", ".join(["(%s, %s, 'ECNY', %s, %s, 1)"] * len(legs)),
            [value for leg in legs for value in leg],
        )
        assert queued.legs.count() == 4
        transaction.set_rollback(True)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM settlement_account WHERE id = %(account)s",
        "DELETE FROM settlement_transfer WHERE id = %(transfer)s",
    ],
)
def test_accounts_and_transfers_named_by_queued_legs_cannot_go(
    world, queue_without_doorbell, statement
):
    # Queued, not settled: only its leg names the transfer and the payee's account.
    queued = world.pay_later(
        world.wallet("Alice", load=100), bob := world.wallet("Bob"), 10, idempotency_key="q"
    )
    params = {"transfer": queued.pk, "account": bob.account_id}
    refused = pytest.raises(IntegrityError, match="still referenced from settlement_transferleg")
    with refused, transaction.atomic():
        sql(statement, params)
    assert Transfer.objects.filter(pk=queued.pk, legs__credit_id=bob.account_id).exists()


def test_a_delete_of_an_account_waits_for_the_transaction_inserting_its_leg(
    world, queue_without_doorbell
):
    """The statement check takes the KEY SHARE lock a foreign key would: a DELETE of the
    account from another connection waits for the inserting transaction, and then finds
    the leg and is refused."""
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    carol = world.wallet("Carol")  # named by no leg until the transaction below
    started, inserted, done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict = {}

    def delete_carol():
        try:
            inserted.wait(30)
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '20s'")
                started.set()
                cursor.execute("DELETE FROM settlement_account WHERE id = %s", [carol.account_id])
        except IntegrityError as error:
            outcome["refused"] = str(error)
        finally:
            done.set()
            connections.close_all()

    deleter = threading.Thread(target=delete_carol)
    deleter.start()
    with transaction.atomic():
        queued = world.pay_later(alice, bob, 10, idempotency_key="to-carol")
        sql(LEG + "(%s, 1, 'ECNY', %s, %s, 1)", [queued.pk, alice.account_id, carol.account_id])
        inserted.set()
        started.wait(30)
        assert not done.wait(1.0), "the DELETE did not wait for the leg's transaction"
    deleter.join(60)
    assert "still referenced from settlement_transferleg" in outcome["refused"]


def test_the_legs_check_reads_accounts_and_transfers_by_index_whatever_their_size(
    world, queue_without_doorbell
):
    """Its plans are cached for the session; one made while the tables were small would
    read them whole on every statement after, as they grew (it did, in a load run after
    --flush). Counted in this transaction: no sequential scan of either table."""
    alice, bob = world.wallet("Alice", load=100), world.wallet("Bob")
    queued = world.pay_later(alice, bob, 10, idempotency_key="queued")

    def scans() -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, seq_scan FROM pg_stat_xact_user_tables "
                "WHERE relname IN ('settlement_account', 'settlement_transfer')"
            )
            return dict(cursor.fetchall())

    with transaction.atomic():
        before = scans()
        sql(LEG + "(%s, 1, 'ECNY', %s, %s, 1)", [queued.pk, alice.account_id, bob.account_id])
        assert scans() == before
        transaction.set_rollback(True)


def test_legs_have_no_row_by_row_foreign_keys_nor_a_second_index_on_transfer():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint "
            "WHERE conrelid = 'settlement_transferleg'::regclass AND contype = 'f'"
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'settlement_transferleg' "
            "AND indexdef LIKE '%%(transfer_id%%'"
        )
        assert [row[0].split(" USING ")[1] for row in cursor.fetchall()] == [
            "btree (transfer_id, seq)"
        ]


def test_a_wallet_balance_cannot_go_negative(world):
    alice = world.wallet("Alice", load=100)
    with pytest.raises(IntegrityError, match="account_balance_not_negative"), transaction.atomic():
        sql("UPDATE settlement_account SET balance = -1 WHERE id = %s", [alice.account_id])
    assert balance(alice) == 10_000


def test_racing_settlers_decide_each_transfer_exactly_once(world, queue_without_doorbell):
    rng = random.Random(7)
    wallets = [world.wallet(f"W{i}", klass=1, load=2_000) for i in range(30)]
    for i in range(3_000):
        payer, payee = rng.sample(wallets, 2)
        transfer_submit(
            kind=TransferKind.P2P,
            legs=[LegSpec(payer.account_id, payee.account_id, rng.randint(1, 30_000))],
            idempotency_key=f"race:{i}",
        )
    assert Transfer.objects.filter(state="RECEIVED").count() == 3_000

    # Four settlers with small batches, so their claims interleave and contend for accounts.
    results = in_threads(4, lambda _: transfers_settle(batch_size=50))

    assert sum(result.claimed for result in results) >= 3_000
    assert not Transfer.objects.filter(state="RECEIVED").exists()
    settled = Transfer.objects.filter(kind="P2P", state="SETTLED")
    rejected = Transfer.objects.filter(kind="P2P", state="REJECTED")
    assert settled.count() + rejected.count() == 3_000
    assert settled.count() == sum(result.settled for result in results)
    by_code = Counter()
    for result in results:
        by_code.update(result.rejected)
    assert Counter(rejected.values_list("reject_code", flat=True)) == by_code
    assert rejected.count() > 0, "amounts were drawn so that some payments bounce"
    # One leaf per settled transfer, with no gap or duplicate in the indexes.
    leaves = AuditLeaf.objects.filter(transfer__in=settled)
    assert leaves.count() == settled.count()
    indexes = sorted(AuditLeaf.objects.values_list("index", flat=True))
    assert indexes == list(range(len(indexes)))
    assert Posting.objects.filter(transfer__in=settled).count() == 2 * settled.count()
    assert not Posting.objects.filter(transfer__in=rejected).exists()
    report = audit_verify()
    assert report.ok, report.mismatch


def test_two_hundred_concurrent_one_fen_debits_against_one_hundred_fen(world):
    # 40 clients on their own connections, five payments each; every commit rings the
    # doorbell, which settles in that client's thread, so settlers race as submitters do.
    alice = world.wallet("Alice", load="1.00")
    shops = [world.wallet(f"Shop{i}", merchant=True) for i in range(4)]

    def client(i: int) -> None:
        for j in range(5):
            world.pay_later(alice, shops[(i + j) % 4], 1, idempotency_key=f"fen:{i}:{j}")

    in_threads(40, client)
    transfers_settle()

    payments = Transfer.objects.filter(idempotency_key__startswith="fen:")
    assert payments.count() == 200
    assert payments.filter(state="SETTLED").count() == 100
    assert set(payments.filter(state="REJECTED").values_list("reject_code", flat=True)) == {
        "INSUFFICIENT_FUNDS"
    }
    assert balance(alice) == 0
    assert sum(balance(shop) for shop in shops) == 100
    report = audit_verify()
    assert report.ok, report.mismatch


def test_one_idempotency_key_raced_by_eight_clients_makes_one_transfer(world):
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")
    legs = [LegSpec(alice.account_id, bob.account_id, 1_234)]

    results = in_threads(
        8, lambda _: transfer_submit(kind=TransferKind.P2P, legs=legs, idempotency_key="same")
    )

    assert len({transfer.pk for transfer, _ in results}) == 1
    assert Counter(created for _, created in results) == {True: 1, False: 7}
    assert Transfer.objects.filter(idempotency_key="same").count() == 1
    transfers_settle()
    assert balance(bob) == 1_234


def test_the_same_key_with_a_different_body_is_refused_under_a_race(world):
    alice = world.wallet("Alice", load=100)
    bob = world.wallet("Bob")

    def submit(i: int):
        legs = [LegSpec(alice.account_id, bob.account_id, 100 + i % 2)]
        try:
            return transfer_submit(kind=TransferKind.P2P, legs=legs, idempotency_key="k")
        except IdempotencyConflict as conflict:
            return conflict

    results = in_threads(8, submit)

    conflicts = [r for r in results if isinstance(r, IdempotencyConflict)]
    accepted = [r for r in results if not isinstance(r, IdempotencyConflict)]
    assert {c.code for c in conflicts} == {ErrorCode.IDEMPOTENCY_CONFLICT}
    assert len(conflicts) == 4, "the four clients whose amount differs from the winner's"
    assert len({transfer.pk for transfer, _ in accepted}) == 1
    assert Transfer.objects.filter(idempotency_key="k").count() == 1


def test_array_literals_round_trip_through_postgresql():
    from settlement.sql import array_literal, fetch

    texts = ["SETTLED", "", "NULL", 'a "quoted" word', "back\\slash", "comma, brace}{", "中文"]
    assert fetch("SELECT %s::text[]", [array_literal(texts)])[0][0] == texts
    numbers = [0, -1, 2**62, None]
    assert fetch("SELECT %s::bigint[]", [array_literal(numbers)])[0][0] == numbers


def test_audit_verify_reads_one_snapshot_while_settlement_and_sealing_go_on(
    world, audit_key, monkeypatch
):
    """Verify on a live ledger: transfers settle and a checkpoint is sealed by another
    connection between verify's reads, and verify still judges one consistent moment."""
    from settlement.audit import verify
    from settlement.audit.checkpoint import checkpoint_seal
    from settlement.models import Checkpoint

    alice, bob = world.wallet("Alice", load=1_000), world.wallet("Bob")
    for _ in range(3):
        world.pay(alice, bob, 10)
    checkpoint_seal()
    leaves_before = AuditLeaf.objects.count()

    def meanwhile() -> None:  # another worker: settle two more payments and seal
        for _ in range(2):
            world.pay(alice, bob, 10)
        checkpoint_seal()
        connection.close()

    checks = verify._check_head_and_coverage

    def checks_after_others_wrote(report):
        other = threading.Thread(target=meanwhile)
        other.start()
        other.join()
        return checks(report)

    monkeypatch.setattr(verify, "_check_head_and_coverage", checks_after_others_wrote)
    report = audit_verify()
    assert report.ok, report.mismatch
    assert report.leaves == leaves_before  # the moment verify began
    assert AuditLeaf.objects.count() == leaves_before + 2
    assert Checkpoint.objects.count() == 2
    monkeypatch.undo()
    assert audit_verify().ok


def test_a_set_based_update_reads_only_the_rows_it_updates():
    # Settling the newest transfers of a big table must not walk its whole primary key:
    # that cost a merge join over 1,000,000 entries per batch before the key's own condition.
    sql(
        "INSERT INTO settlement_transfer (kind, state, reject_code, idempotency_key, memo, "
        "created_at, decided_at) SELECT 'P2P', 'SETTLED', '', 'filler:' || g, '', now(), now() "
        "FROM generate_series(1, 60000) g"
    )
    sql("ANALYZE settlement_transfer")
    newest = list(Transfer.objects.order_by("-id").values_list("id", flat=True)[:2000])
    rows = [(transfer_id, "SETTLED", "") for transfer_id in newest]
    explained: list[dict] = []

    def explain(execute, statement, params, many, context):
        if statement.startswith("UPDATE settlement_transfer"):
            with context["connection"].cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
                explained.append(cursor.fetchone()[0][0]["Plan"])
            return None
        return execute(statement, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(explain):
        update_from_values(
            "settlement_transfer", "id", [("state", "varchar"), ("reject_code", "varchar")], rows
        )
        transaction.set_rollback(True)

    def rows_read(node: dict) -> int:
        own = node["Actual Rows"] * node["Actual Loops"]
        on_target = node.get("Relation Name") == "settlement_transfer"
        return (own if on_target else 0) + sum(map(rows_read, node.get("Plans", [])))

    assert explained, "the UPDATE was not run"
    assert rows_read(explained[0]) == len(newest)


def test_a_claim_reads_the_queue_in_order_however_stale_the_statistics():
    """With no statistics of the transfers' columns (the table analysed while empty, or
    never, as in load runs after --flush), the planner expected 0.5% of the table to be
    queued and claimed with a bitmap scan of every queued transfer and a sort: the longer
    the backlog, the more a claim cost. A claim reads the queue's index in id order and
    stops at the batch's size, and the rest of the batch plans as before."""
    sql("ANALYZE settlement_transfer")  # empty: no statistics of its columns
    sql(
        "INSERT INTO settlement_transfer (kind, state, reject_code, idempotency_key, memo, "
        "created_at) SELECT 'P2P', 'RECEIVED', '', 'backlog:' || g, '', now() "
        "FROM generate_series(1, 30000) g"
    )
    plans: list[dict] = []
    bitmap_scans: list[str] = []

    class Claimed(Exception):
        pass

    def explain(execute, statement, params, many, context):
        claim = "FOR UPDATE SKIP LOCKED" in statement
        if claim or (plans and not statement.startswith("SET")):
            with context["connection"].connection.cursor() as cursor:  # psycopg's: unwrapped
                cursor.execute("SHOW enable_bitmapscan")
                bitmap_scans.append(cursor.fetchone()[0])
                if not claim:
                    raise Claimed  # the batch's first lookup after its claim: enough seen
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
                plans.append(cursor.fetchone()[0][0]["Plan"])
        return execute(statement, params, many, context)

    def nodes(node: dict) -> list[dict]:
        return [node, *(child for plan in node.get("Plans", []) for child in nodes(plan))]

    with pytest.raises(Claimed), connection.execute_wrapper(explain):
        settle_batch(5_000)
    read = [(n["Node Type"], n.get("Index Name")) for n in nodes(plans[0])]
    assert ("Index Scan", "transfer_received_queue") in read
    assert not [kind for kind, _ in read if "Bitmap" in kind or kind == "Sort"], read
    assert bitmap_scans == ["off", "on"]  # the batch's lookups by many ids may still use them
