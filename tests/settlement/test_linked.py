"""Linked transfers: a chain of a batch is queued whole or refused whole, and settles whole
or is rejected whole, with nothing moved and no limit use left behind. Worked examples,
then a property test against a plain model. Amounts in fen unless yuan."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ewallet.errors import ErrorCode, EwalletError
from ewallet.money import yuan
from settlement import services
from settlement.audit.checkpoint import checkpoint_seal
from settlement.audit.verify import audit_verify
from settlement.batch import settle_batch
from settlement.models import AuditLeaf, Transfer, TransferKind
from settlement.services import LegSpec, TransferSpec
from tests.helpers import assert_every_fen_kept, balance, key, settle
from wallets import selectors


@pytest.fixture(autouse=True)
def every_fen_kept(world, audit_key):
    yield
    assert_every_fen_kept()


def spec(payer, payee, amount, *, linked=False, name=None) -> TransferSpec:
    return TransferSpec(
        TransferKind.P2P,
        [LegSpec(payer.account_id, payee.account_id, amount)],
        name or key("link"),
        linked=linked,
    )


def submit(*specs: TransferSpec) -> list[services.SubmitOutcome]:
    return services.transfers_submit_many(specs)


def decided(outcomes) -> list[tuple[str, str]]:
    """(state, reject code) of each queued transfer, after settling."""
    settle()
    rows = dict(
        (pk, (state, code))
        for pk, state, code in Transfer.objects.filter(
            pk__in=[o.transfer_id for o in outcomes]
        ).values_list("pk", "state", "reject_code")
    )
    return [rows[o.transfer_id] for o in outcomes]


def spent_today(wallet) -> int:
    return selectors.wallet_limit_usage(wallet)["daily"].used


@pytest.fixture
def trio(world):
    return (
        world.wallet("Alice", klass=2, load=100),
        world.wallet("Bob", klass=2, load=40),
        world.wallet("Carol", klass=2, load=0),
    )


def test_a_chain_settles_whole_and_a_later_member_may_spend_what_an_earlier_brought(trio):
    alice, bob, carol = trio
    # Bob holds 40.00 and pays 120.00 on: only because Alice's 100.00 comes first.
    outcomes = submit(
        spec(alice, bob, yuan(100), linked=True), spec(bob, carol, yuan(120)), spec(bob, carol, 1)
    )
    assert [o.created for o in outcomes] == [True, True, True]
    assert decided(outcomes) == [("SETTLED", ""), ("SETTLED", ""), ("SETTLED", "")]
    assert (balance(alice), balance(bob), balance(carol)) == (0, yuan(20) - 1, yuan(120) + 1)
    # Both members' leaves name the chain, the same link; the unlinked one names none.
    links = [Transfer.objects.get(pk=o.transfer_id).link for o in outcomes]
    assert links[0] == links[1] and links[0] is not None and links[2] is None
    leaves = [bytes(AuditLeaf.objects.get(transfer_id=o.transfer_id).leaf_bytes) for o in outcomes]
    assert f'"link":"{links[0]}"'.encode() in leaves[0] and b'"link"' not in leaves[2]


def test_when_a_later_member_is_rejected_the_earlier_ones_are_undone(trio):
    alice, bob, carol = trio
    outcomes = submit(
        spec(alice, bob, yuan(100), linked=True),
        spec(bob, carol, yuan(140) + 1, linked=True),  # one fen more than Bob would hold
        spec(carol, alice, 1),
    )
    assert decided(outcomes) == [
        ("REJECTED", "LINKED_FAILED"),
        ("REJECTED", "INSUFFICIENT_FUNDS"),
        ("REJECTED", "LINKED_FAILED"),
    ]
    assert (balance(alice), balance(bob), balance(carol)) == (yuan(100), yuan(40), 0)
    assert not AuditLeaf.objects.filter(transfer_id__in=[o.transfer_id for o in outcomes])


def test_a_rejected_chain_gives_back_the_limit_use_of_its_members(world):
    # Class 4: 2,000.00 a payment, 5,000.00 a day.
    payer = world.wallet("Dan", klass=4, load=5_000)
    payee = world.wallet("Eve", klass=2, load=0)
    outcomes = submit(
        spec(payer, payee, yuan(2_000), linked=True),
        spec(payer, payee, yuan(2_000), linked=True),
        spec(payer, payee, yuan(2_000) + 1),  # above the single-payment limit
    )
    assert [state for state, _ in decided(outcomes)] == ["REJECTED"] * 3
    assert decided(outcomes)[2] == ("REJECTED", "LIMIT_SINGLE")
    assert spent_today(payer) == 0
    # All of the day's 5,000.00 is still there to pay.
    paid = submit(*(spec(payer, payee, yuan(n)) for n in (2_000, 2_000, 1_000)))
    assert decided(paid) == [("SETTLED", "")] * 3


def test_a_chain_refused_at_submission_queues_nothing(world, trio):
    alice, bob, carol = trio
    bad = TransferSpec(TransferKind.P2P, [LegSpec(alice.account_id, 999_999_999, 1)], key("x"))
    outcomes = submit(
        spec(alice, bob, 1),
        spec(alice, bob, 2, linked=True),
        TransferSpec(bad.kind, bad.legs, bad.idempotency_key, linked=True),
        spec(bob, carol, 3),
    )
    assert outcomes[0].created
    assert outcomes[2].error.code == ErrorCode.NOT_FOUND
    for refused in (outcomes[1], outcomes[3]):
        assert refused.error.code == ErrorCode.LINKED_FAILED
        assert refused.error.extra == {"linked_failed": 1}  # the chain's second member
    assert Transfer.objects.filter(idempotency_key__startswith="link:").count() == 1


def test_a_batch_may_not_end_in_an_open_chain(trio):
    alice, bob, _ = trio
    with pytest.raises(EwalletError) as refused:
        submit(spec(alice, bob, 1), spec(alice, bob, 2, linked=True))
    assert refused.value.code == ErrorCode.LINKED_CHAIN_OPEN
    assert not Transfer.objects.filter(idempotency_key__startswith="link:").exists()


def test_a_key_twice_in_one_chain_refuses_the_chain(trio):
    alice, bob, _ = trio
    outcomes = submit(spec(alice, bob, 1, linked=True, name="k1"), spec(alice, bob, 1, name="k1"))
    assert [o.error.code for o in outcomes] == [ErrorCode.LINKED_FAILED, ErrorCode.INVALID_INPUT]
    assert not Transfer.objects.filter(idempotency_key="k1").exists()


def test_a_chain_replays_as_the_same_chain_and_only_so(trio):
    alice, bob, carol = trio
    chain = [spec(alice, bob, 5, linked=True, name="c1"), spec(bob, carol, 5, name="c2")]
    first = submit(*chain)
    again = submit(*chain)
    assert [(o.transfer_id, o.created) for o in again] == [(o.transfer_id, False) for o in first]
    # The same keys unlinked, or in another chain, are not a replay of it.
    unlinked = submit(spec(alice, bob, 5, name="c1"), spec(bob, carol, 5, name="c2"))
    assert [o.error.code for o in unlinked] == [ErrorCode.IDEMPOTENCY_CONFLICT] * 2
    half = submit(spec(alice, bob, 5, linked=True, name="c1"), spec(bob, carol, 5, name="c3"))
    assert [o.error.code for o in half] == [
        ErrorCode.IDEMPOTENCY_CONFLICT,
        ErrorCode.LINKED_FAILED,
    ]
    assert not Transfer.objects.filter(idempotency_key="c3").exists()  # inserted, then undone
    assert decided(first) == [("SETTLED", "")] * 2


def test_a_chain_may_not_reuse_the_key_of_an_earlier_single_transfer(trio):
    alice, bob, carol = trio
    (single,) = submit(spec(alice, bob, 7, name="s1"))
    outcomes = submit(spec(alice, bob, 7, linked=True, name="s1"), spec(bob, carol, 7))
    assert outcomes[0].error.code == ErrorCode.IDEMPOTENCY_CONFLICT
    assert outcomes[1].error.code == ErrorCode.LINKED_FAILED
    assert decided([single]) == [("SETTLED", "")]
    assert balance(carol) == 0


def test_a_key_of_a_refused_chain_used_again_later_in_the_request_is_refused_too(trio):
    alice, bob, _ = trio
    submit(spec(alice, bob, 1, name="taken"))
    outcomes = submit(
        spec(alice, bob, 2, linked=True, name="k"),
        spec(alice, bob, 1, name="taken"),  # another transfer's key: the chain is refused
        spec(alice, bob, 2, name="k"),
    )
    assert [o.error.code for o in outcomes] == [
        ErrorCode.LINKED_FAILED,
        ErrorCode.IDEMPOTENCY_CONFLICT,
        ErrorCode.IDEMPOTENCY_CONFLICT,
    ]
    assert not Transfer.objects.filter(idempotency_key="k").exists()


def test_a_batch_that_claims_part_of_a_chain_takes_the_rest(trio):
    alice, bob, carol = trio
    outcomes = submit(
        spec(alice, bob, yuan(100), linked=True),
        spec(bob, carol, yuan(120), linked=True),
        spec(carol, alice, yuan(1)),
    )
    result = settle_batch(1)  # claims only the first member
    assert result.claimed == 3 and result.settled == 3
    assert decided(outcomes) == [("SETTLED", "")] * 3


# ---------------------------------------------------------------- against a plain model


def model_settle(balances: list[int], batch: list[tuple[int, int, int, bool]]) -> list[str]:
    """Each item's reject code ("" settled), items in order and chains whole, from
    `balances` (changed in place): the rule of linked transfers written apart."""
    codes: list[str] = []
    chain: list[tuple[int, int, int]] = []
    for payer, payee, amount, linked in batch:
        chain.append((payer, payee, amount))
        if linked:
            continue
        trial = list(balances)
        failed = None
        for index, (i, j, fen) in enumerate(chain):
            if fen > trial[i]:
                failed = index
                break
            trial[i] -= fen
            trial[j] += fen
        if failed is None:
            balances[:] = trial
            codes += [""] * len(chain)
        else:
            codes += [
                "INSUFFICIENT_FUNDS" if index == failed else "LINKED_FAILED"
                for index in range(len(chain))
            ]
        chain = []
    return codes


WALLETS = 3
batches = st.lists(
    st.lists(
        st.tuples(
            st.integers(0, WALLETS - 1),
            st.integers(1, WALLETS - 1),  # the payee, counted on from the payer
            st.integers(1, yuan(60)),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ).map(lambda items: [*items[:-1], (*items[-1][:3], False)]),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=batches, batch_size=st.integers(1, 10))
def test_linked_chains_agree_with_a_plain_model(world, batches, batch_size):
    wallets = [world.wallet(f"W{n}", klass=1, load=100) for n in range(WALLETS)]
    model = [yuan(100)] * WALLETS
    for batch in batches:
        items = [(i, (i + step) % WALLETS, fen, linked) for i, step, fen, linked in batch]
        outcomes = submit(
            *(spec(wallets[i], wallets[j], fen, linked=linked) for i, j, fen, linked in items)
        )
        services.transfers_settle(batch_size=batch_size)
        assert [code for _, code in decided(outcomes)] == model_settle(model, items)
        assert [balance(wallet) for wallet in wallets] == model
    checkpoint_seal()
    assert audit_verify().ok


def test_audit_verify_names_a_chain_decided_in_part(trio):
    alice, bob, carol = trio
    chain = submit(spec(alice, bob, 1, linked=True), spec(bob, carol, 1))
    (stray,) = submit(spec(carol, alice, 2))  # Carol holds 1 fen: rejected
    settle()
    checkpoint_seal()
    assert audit_verify().ok
    # A rejected transfer counted into a settled chain: every other check still holds.
    link = Transfer.objects.get(pk=chain[0].transfer_id).link
    Transfer.objects.filter(pk=stray.transfer_id).update(link=link)
    report = audit_verify()
    assert not report.ok and report.mismatch.check == "linked", report
    Transfer.objects.filter(pk=stray.transfer_id).update(link=None)
