"""Two-phase transfers as worked examples: reserve, then post (all or part), void, or
expire at the timeout; every phase a leaf, `audit verify` passing after each example, and
what a payer may spend always balance - reserved. Amounts in fen unless yuan."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewallet.errors import EwalletError
from ewallet.money import yuan
from settlement import services
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.models import Account, AuditLeaf, Transfer, TransferKind
from settlement.services import LegSpec
from tests.helpers import assert_every_fen_kept, key, settle
from wallets import selectors

HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def every_fen_kept(world, audit_key):
    yield
    assert_every_fen_kept()


@pytest.fixture
def alice(world):
    return world.wallet("Alice", klass=2, load=1_000)


@pytest.fixture
def bob(world):
    return world.wallet("Bob", klass=2, load=0)


def account(wallet) -> Account:
    return Account.objects.get(pk=wallet.account_id)


def held(wallet) -> tuple[int, int]:
    """(balance, reserved) in fen."""
    a = account(wallet)
    return a.balance, a.reserved


def reserve(payer, payee, amount, *, timeout=HOUR, kind=TransferKind.P2P) -> Transfer:
    transfer, _ = services.transfer_reserve(
        kind=kind,
        legs=[LegSpec(payer.account_id, payee.account_id, amount)],
        idempotency_key=key("hold"),
        timeout=timeout,
    )
    settle()
    return fresh(transfer)


def pay(payer, payee, amount) -> Transfer:
    transfer, _ = services.transfer_submit(
        kind=TransferKind.P2P,
        legs=[LegSpec(payer.account_id, payee.account_id, amount)],
        idempotency_key=key("pay"),
    )
    settle()
    return fresh(transfer)


def post(pending, amount=None) -> Transfer:
    transfer, _ = services.transfer_post(
        pending=pending, amount=amount, idempotency_key=key("post")
    )
    settle()
    return fresh(transfer)


def void(pending) -> Transfer:
    transfer, _ = services.transfer_void(pending=pending, idempotency_key=key("void"))
    settle()
    return fresh(transfer)


def fresh(transfer: Transfer) -> Transfer:
    transfer.refresh_from_db()
    return transfer


def state(transfer: Transfer) -> tuple[str, str]:
    transfer = fresh(transfer)
    return transfer.state, transfer.reject_code


def spent_today(wallet) -> int:
    return selectors.wallet_limit_usage(wallet)["daily"].used


def test_a_reservation_holds_funds_that_nothing_else_may_spend(alice, bob):
    pending = reserve(alice, bob, yuan(600))
    assert state(pending) == ("PENDING", "")
    assert held(alice) == (yuan(1_000), yuan(600)) and held(bob) == (0, 0)
    # 400 may be spent, 400.01 may not.
    assert state(pay(alice, bob, yuan(400) + 1)) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert state(pay(alice, bob, yuan(400))) == ("SETTLED", "")
    assert held(alice) == (yuan(600), yuan(600))
    # A second reservation finds nothing left to hold.
    assert state(reserve(alice, bob, 1)) == ("REJECTED", "INSUFFICIENT_FUNDS")


def test_posting_moves_what_was_held_and_releases_the_hold(alice, bob):
    pending = reserve(alice, bob, yuan(600))
    posted = post(pending)
    assert state(posted) == ("SETTLED", "") and posted.kind == TransferKind.POST
    assert state(pending) == ("POSTED", "")
    assert held(alice) == (yuan(400), 0) and held(bob) == (yuan(600), 0)
    # Both phases are in the log: the reservation (PENDING) and the post naming it.
    reservation = AuditLeaf.objects.get(transfer=pending).leaf_bytes
    assert b'"state":"PENDING"' in bytes(reservation) and b'"timeout_at"' in bytes(reservation)
    assert f'"pending":{pending.pk}'.encode() in bytes(
        AuditLeaf.objects.get(transfer=posted).leaf_bytes
    )


def test_a_partial_post_moves_part_and_gives_back_the_rest_of_the_limit_use(alice, bob):
    pending = reserve(alice, bob, yuan(600))
    assert spent_today(alice) == yuan(600)  # counted against the limits when reserved
    post(pending, amount=yuan(250))
    assert held(alice) == (yuan(750), 0) and held(bob) == (yuan(250), 0)
    assert spent_today(alice) == yuan(250)
    with pytest.raises(EwalletError) as refused:
        services.transfer_post(pending=pending, amount=yuan(601), idempotency_key=key("p"))
    assert refused.value.code == "INVALID_AMOUNT"


def test_a_void_releases_everything_and_moves_nothing(alice, bob):
    pending = reserve(alice, bob, yuan(600))
    voided = void(pending)
    assert state(voided) == ("SETTLED", "") and state(pending) == ("VOIDED", "")
    assert held(alice) == (yuan(1_000), 0) and held(bob) == (0, 0)
    assert spent_today(alice) == 0
    # Decided once: posting or voiding again is refused by settlement, nothing moves.
    assert state(post(pending)) == ("REJECTED", "ALREADY_VOIDED")
    assert state(void(pending)) == ("REJECTED", "ALREADY_VOIDED")
    assert held(alice) == (yuan(1_000), 0)


def test_after_a_post_a_void_is_refused(alice, bob):
    pending = reserve(alice, bob, 500)
    post(pending)
    assert state(void(pending)) == ("REJECTED", "ALREADY_POSTED")
    assert state(post(pending)) == ("REJECTED", "ALREADY_POSTED")
    assert held(alice) == (yuan(1_000) - 500, 0) and held(bob) == (500, 0)


def test_a_pending_transfer_expires_at_its_timeout_once(alice, bob):
    pending = reserve(alice, bob, yuan(300), timeout=timedelta(seconds=1))
    assert services.pendings_expire() == 0  # not due yet
    later = timezone.now() + timedelta(seconds=2)
    # Past its timeout, before the sweep: a post is too late.
    time.sleep(1.05)
    assert state(post(pending)) == ("REJECTED", "PENDING_TIMED_OUT")
    assert services.pendings_expire(now=later) == 1
    assert services.pendings_expire(now=later) == 0  # queued once, whoever sweeps
    settle()
    assert state(pending) == ("EXPIRED", "")
    assert held(alice) == (yuan(1_000), 0) and spent_today(alice) == 0
    expiry = Transfer.objects.get(pending=pending, kind=TransferKind.EXPIRE)
    assert state(expiry) == ("SETTLED", "") and expiry.idempotency_key == f"expire:{pending.pk}"
    assert state(void(pending)) == ("REJECTED", "ALREADY_EXPIRED")


def test_a_refused_reservation_has_nothing_to_post(world, bob):
    poor = world.wallet("Poor", load=1)
    pending = reserve(poor, bob, yuan(5))
    assert state(pending) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert state(post(pending)) == ("REJECTED", "PENDING_REJECTED")
    assert held(poor) == (yuan(1), 0)


def test_a_refused_reservation_and_its_void_in_one_batch(world, bob):
    poor = world.wallet("Poor", load=1)
    pending, _ = services.transfer_reserve(
        kind=TransferKind.P2P,
        legs=[LegSpec(poor.account_id, bob.account_id, yuan(5))],
        idempotency_key=key("hold"),
        timeout=HOUR,
    )
    voided, _ = services.transfer_void(pending=pending, idempotency_key=key("void"))
    settle()
    assert state(pending) == ("REJECTED", "INSUFFICIENT_FUNDS")
    assert state(voided) == ("REJECTED", "PENDING_REJECTED")


def test_reserve_and_post_queued_together_settle_in_one_batch_in_order(alice, bob):
    pending, _ = services.transfer_reserve(
        kind=TransferKind.P2P,
        legs=[LegSpec(alice.account_id, bob.account_id, 700)],
        idempotency_key=key("hold"),
        timeout=HOUR,
    )
    services.transfer_post(pending=pending, amount=200, idempotency_key=key("post"))
    services.transfer_void(pending=pending, idempotency_key=key("void"))
    settle()
    assert state(pending) == ("POSTED", "")
    assert held(alice) == (yuan(1_000) - 200, 0) and held(bob) == (200, 0)
    void_ = Transfer.objects.get(pending=pending, kind=TransferKind.VOID)
    assert state(void_) == ("REJECTED", "ALREADY_POSTED")


def test_limits_are_checked_when_funds_are_reserved(world, bob):
    small = world.wallet("Small", klass=4, load=2_000)  # class 4: 2,000 a payment
    assert state(reserve(small, bob, yuan(2_000) + 1)) == ("REJECTED", "LIMIT_SINGLE")
    assert held(small)[1] == 0


def test_a_post_to_a_payee_that_would_pass_its_cap_is_refused_and_the_hold_kept(world, alice):
    capped = world.wallet("Capped", klass=4, load=0)  # class 4 holds at most 10,000
    pending = reserve(alice, capped, yuan(600))
    Account.objects.filter(pk=capped.account_id).update(balance_cap=yuan(500))
    assert state(post(pending)) == ("REJECTED", "LIMIT_BALANCE")
    assert state(pending) == ("PENDING", "") and held(alice) == (yuan(1_000), yuan(600))
    void(pending)


def test_phases_are_refused_for_a_transfer_that_is_not_two_phase(alice, bob):
    plain = pay(alice, bob, 100)
    for call in (services.transfer_post, services.transfer_void):
        with pytest.raises(EwalletError) as refused:
            call(pending=plain, idempotency_key=key("x"))
        assert refused.value.code == "INVALID_STATE"
    with pytest.raises(EwalletError) as refused:
        services.transfer_reserve(
            kind=TransferKind.P2P,
            legs=[LegSpec(alice.account_id, bob.account_id, 1)],
            idempotency_key=key("x"),
            timeout=timedelta(days=91),
        )
    assert refused.value.code == "INVALID_INPUT"


def test_the_same_key_queues_a_phase_once(alice, bob):
    pending = reserve(alice, bob, 500)
    first, created = services.transfer_post(pending=pending, idempotency_key="post-1")
    again, created_again = services.transfer_post(pending=pending, idempotency_key="post-1")
    assert created and not created_again and again.pk == first.pk
    other = reserve(alice, bob, 100)
    with pytest.raises(EwalletError) as refused:
        services.transfer_post(pending=other, idempotency_key="post-1")
    assert refused.value.code == "IDEMPOTENCY_CONFLICT"
    settle()
    void(other)


def test_audit_verify_names_reserved_funds_that_pending_transfers_do_not_explain(alice, bob):
    pending = reserve(alice, bob, 500)
    Account.objects.filter(pk=alice.account_id).update(reserved=499)
    report = audit_verify()
    assert not report.ok and report.mismatch.check == "reserved"
    Account.objects.filter(pk=alice.account_id).update(reserved=500)
    void(pending)


# ---------------------------------------------------------------- against a plain model


class Model:
    """Two-phase transfers as the README states them, written apart from settlement: what a
    payer may spend is balance - reserved; a pending transfer is decided once."""

    def __init__(self, balances: list[int]) -> None:
        self.balance = list(balances)
        self.reserved = [0] * len(balances)
        self.pendings: list[tuple[int, int, int, str]] = []  # (payer, payee, amount, state)

    def pay(self, i: int, j: int, amount: int) -> str:
        if amount > self.balance[i] - self.reserved[i]:
            return "INSUFFICIENT_FUNDS"
        self.balance[i] -= amount
        self.balance[j] += amount
        return ""

    def reserve(self, i: int, j: int, amount: int) -> str:
        if amount > self.balance[i] - self.reserved[i]:
            self.pendings.append((i, j, amount, "REJECTED"))
            return "INSUFFICIENT_FUNDS"
        self.reserved[i] += amount
        self.pendings.append((i, j, amount, "PENDING"))
        return ""

    def decide(self, k: int, posted: int | None) -> str:
        i, j, amount, state = self.pendings[k]
        if state != "PENDING":
            return {"REJECTED": "PENDING_REJECTED"}.get(state, f"ALREADY_{state}")
        self.reserved[i] -= amount
        if posted is not None:
            self.balance[i] -= posted
            self.balance[j] += posted
        self.pendings[k] = (i, j, amount, "VOIDED" if posted is None else "POSTED")
        return ""


WALLETS = 2
two_phase_operations = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["pay", "reserve"]),
            st.integers(0, WALLETS - 1),
            st.integers(1, WALLETS - 1),  # the payee, counted on from the payer
            st.sampled_from([yuan(n) + d for n in (200, 300, 400, 600) for d in (-1, 0, 1)])
            | st.integers(1, yuan(700)),
        ),
        # post (part, as a share of the reserved amount in percent) or void (None) the
        # k-th pending transfer, counted modulo how many there are
        st.tuples(st.just("decide"), st.integers(0, 20), st.none() | st.integers(1, 100)),
        st.tuples(st.just("settle")),
    ),
    min_size=10,
    max_size=40,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=two_phase_operations)
def test_two_phase_transfers_agree_with_a_plain_model(world, ops):
    wallets = [world.wallet(f"W{n}", klass=1, load=1_000) for n in range(WALLETS)]
    model = Model([yuan(1_000)] * WALLETS)
    pendings: list[Transfer] = []
    expected: list[tuple[Transfer, str]] = []
    for op in ops:
        if op[0] in ("pay", "reserve"):
            _, i, step, amount = op
            j = (i + step) % WALLETS
            legs = [LegSpec(wallets[i].account_id, wallets[j].account_id, amount)]
            if op[0] == "pay":
                transfer, _ = services.transfer_submit(
                    kind=TransferKind.P2P, legs=legs, idempotency_key=key("pay")
                )
                expected.append((transfer, model.pay(i, j, amount)))
            else:
                transfer, _ = services.transfer_reserve(
                    kind=TransferKind.P2P, legs=legs, idempotency_key=key("hold"), timeout=HOUR
                )
                pendings.append(transfer)
                code = model.reserve(i, j, amount)
                expected.append((transfer, code))
        elif op[0] == "decide":
            if not pendings:
                continue
            _, k, share = op
            k %= len(pendings)
            reserved = model.pendings[k][2]
            posted = None if share is None else max(1, reserved * share // 100)
            if posted is None:
                transfer, _ = services.transfer_void(pending=pendings[k], idempotency_key=key("v"))
            else:
                transfer, _ = services.transfer_post(
                    pending=pendings[k], amount=posted, idempotency_key=key("p")
                )
            expected.append((transfer, model.decide(k, posted)))
        else:
            settle()
    settle()
    for transfer, code in expected:
        wanted = "REJECTED" if code else ("PENDING" if transfer.timeout_at else "SETTLED")
        assert state(transfer)[1] == code, (transfer.kind, transfer.pk)
        if not code and transfer.timeout_at:
            assert fresh(transfer).state in ("PENDING", "POSTED", "VOIDED")
        else:
            assert state(transfer)[0] == wanted
    for n, wallet in enumerate(wallets):
        assert held(wallet) == (model.balance[n], model.reserved[n]), n
    for k, pending in enumerate(pendings):
        assert fresh(pending).state == model.pendings[k][3]
    # Release what is still held, so the next example starts from free wallets.
    for pending in pendings:
        if fresh(pending).state == "PENDING":
            services.transfer_void(pending=pending, idempotency_key=key("end"))
    settle()
    checkpoint_seal()
    assert audit_verify().ok
