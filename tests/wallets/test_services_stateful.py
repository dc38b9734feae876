"""Random sequences of every kind of money movement, across services, against a plain
model of balances (a hypothesis RuleBasedStateMachine).

The domain property tests (tests/settlement/test_properties.py for limits and freezes,
tests/wallets/test_escrow_properties.py, test_subwallet_properties.py and
test_voucher_properties.py) each model one service in depth. This one mixes them: loads
and unloads, payments, linked chains, freezes and their lifting, escrow holds released or
cancelled, sub-wallets pushed, pulled from and revoked, in any order, settled in-process
after each step. Class-1 wallets (no limits), so the model decides each payment from funds
and freezes alone. After every step:

- every tracked account's balance and reserved amount equal the model's, to the fen;
- no balance is negative, and nothing reserves more than its account holds;
- e-CNY in circulation equals what was issued and what backs it;
- a step that was refused, or whose transfer was REJECTED, changed no balance at all.

Each example runs in a savepoint rolled back after it. EWALLET_STATEFUL_EXAMPLES and
EWALLET_STATEFUL_STEPS raise the bounds (bench/fuzz.sh does).
"""

import os
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from settlement.models import Transfer
from tests.helpers import key, settle
from tests.wallets.model_checks import attempt, held, money_conserved
from tests.wallets.test_escrow import holder_actor
from wallets import services
from wallets.models import Escrow, FreezeScope, SubWallet, Wallet

EXAMPLES = int(os.environ.get("EWALLET_STATEFUL_EXAMPLES", "10"))
STEPS = int(os.environ.get("EWALLET_STATEFUL_STEPS", "20"))
PEOPLE = ["alice", "bob", "carol"]  # class 1 at ICBC
# Fen; "balance" is all the payer holds (held funds included), "free" all it may spend.
amounts = st.sampled_from([1, 99, 5_000, 100_000, 2_000_000, "balance", "free"])


class Model:
    """Balances and reservations in fen, and the freezes in force, as the README states
    the rules: a FULL freeze stops paying and receiving, RECEIVE_ONLY stops paying; a
    payment needs the payer's free funds (balance less what its holds reserve)."""

    def __init__(self, balances: dict[str, int]) -> None:
        self.balance = dict(balances)
        self.reserved = dict.fromkeys(balances, 0)
        self.orders: dict[str, list[str]] = {name: [] for name in balances}

    def free(self, name: str) -> int:
        return self.balance[name] - self.reserved[name]

    def may_pay(self, name: str) -> bool:
        return not self.orders.get(name)

    def may_receive(self, name: str) -> bool:
        return "FULL" not in self.orders.get(name, [])

    def payable(self, payer: str, payee: str, amount: int) -> bool:
        return self.may_pay(payer) and self.may_receive(payee) and 0 < amount <= self.free(payer)

    def move(self, payer: str, payee: str, amount: int) -> None:
        self.balance[payer] -= amount
        self.balance[payee] += amount


class ServicesMachine(RuleBasedStateMachine):
    world = None  # set by the test: a World, the shop, its staff

    escrows = Bundle("escrows")
    orders = Bundle("orders")
    subs = Bundle("subs")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        w = self.world
        self.staff = w.world.staff_of["ICBC"]
        self.accounts = {name: wallet.account_id for name, wallet in w.wallets.items()}
        self.accounts["vault"] = w.world.operators["ICBC"].vault_account_id
        self.accounts["ccb vault"] = w.world.operators["CCB"].vault_account_id
        # Fresh instances each example: a savepoint rolled back leaves cached ones stale.
        self.wallets = {
            name: Wallet.objects.get(pk=wallet.pk) for name, wallet in w.wallets.items()
        }
        self.model = Model({name: held(self.accounts)[name][0] for name in self.accounts})
        self.before: dict | None = None
        self.refused = False

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ------------------------------------------------------------ helpers

    def _step(self) -> None:
        """Before a step: what every balance was, to compare a refused step with."""
        self.before = held(self.accounts)
        self.refused = False

    def _amount(self, spec: int | str, payer: str) -> int:
        if spec == "balance":
            return max(self.model.balance[payer], 1)
        return max(self.model.free(payer), 1) if spec == "free" else spec

    def _transfer_done(self, transfer: Transfer) -> bool:
        settle()
        transfer.refresh_from_db()
        self.refused = transfer.state == "REJECTED"
        return transfer.state == "SETTLED"

    # ------------------------------------------------------------ rules

    @rule(who=st.sampled_from(PEOPLE), amount=amounts)
    def load(self, who, amount):
        self._step()
        amount = self._amount(amount, who)
        outcome = attempt(
            services.wallet_load,
            actor=self.staff,
            wallet=self.wallets[who],
            amount=amount,
            idempotency_key=key("load"),
        )
        assert outcome.code == ""
        done = self._transfer_done(outcome.value)
        assert done == self.model.may_receive(who), (who, self.model.orders[who])
        if done:
            self.model.move("vault", who, amount)

    @rule(amount=amounts)
    def merchant_unload(self, amount):
        """The shop's takings back to its bank account, through CCB's vault."""
        self._step()
        amount = self._amount(amount, "shop")
        outcome = attempt(
            services.wallet_unload,
            actor=self.world.world.staff_of["CCB"],
            wallet=self.wallets["shop"],
            amount=amount,
            idempotency_key=key("unload"),
        )
        assert outcome.code == ""
        done = self._transfer_done(outcome.value)
        assert done == self.model.payable("shop", "ccb vault", amount), amount
        if done:
            self.model.move("shop", "ccb vault", amount)

    @rule(who=st.sampled_from(PEOPLE), amount=amounts)
    def unload(self, who, amount):
        self._step()
        amount = self._amount(amount, who)
        outcome = attempt(
            services.wallet_unload,
            actor=self.staff,
            wallet=self.wallets[who],
            amount=amount,
            idempotency_key=key("unload"),
        )
        assert outcome.code == ""
        done = self._transfer_done(outcome.value)
        assert done == self.model.payable(who, "vault", amount), (who, amount)
        if done:
            self.model.move(who, "vault", amount)

    @rule(payer=st.sampled_from(PEOPLE), payee=st.sampled_from([*PEOPLE, "shop"]), amount=amounts)
    def pay(self, payer, payee, amount):
        self._step()
        amount = self._amount(amount, payer)
        outcome = attempt(
            services.payment_submit,
            actor=self.staff,
            payer=self.wallets[payer].number,
            payee=self.wallets[payee].number,
            amount=amount,
            idempotency_key=key("pay"),
        )
        if payer == payee:
            assert outcome.code == "SAME_ACCOUNT"
            self.refused = True
            return
        assert outcome.code == ""
        done = self._transfer_done(outcome.value[0])
        assert done == self.model.payable(payer, payee, amount), (payer, payee, amount)
        if done:
            self.model.move(payer, payee, amount)

    @rule(
        chain=st.lists(
            st.tuples(st.sampled_from(PEOPLE), st.sampled_from(PEOPLE), amounts),
            min_size=2,
            max_size=3,
        ).filter(lambda c: all(p != q for p, q, _ in c))
    )
    def pay_linked(self, chain):
        """A linked chain: every payment or none, each seeing the ones before it."""
        self._step()
        chain = [(p, q, self._amount(amount, p)) for p, q, amount in chain]
        specs = [
            services.PaymentSpec(
                payer=self.wallets[p].number,
                payee=self.wallets[q].number,
                amount=amount,
                idempotency_key=key("linked"),
                linked=index < len(chain) - 1,
            )
            for index, (p, q, amount) in enumerate(chain)
        ]
        outcomes = services.payments_submit_many(actor=self.staff, payments=specs)
        settle()
        states = set(
            Transfer.objects.filter(
                idempotency_key__in=[s.idempotency_key for s in specs]
            ).values_list("state", flat=True)
        )
        trial = Model(self.model.balance)
        trial.reserved, trial.orders = dict(self.model.reserved), self.model.orders
        whole = True
        for p, q, amount in chain:
            if not trial.payable(p, q, amount):
                whole = False
                break
            trial.move(p, q, amount)
        assert len(outcomes) == len(chain)
        assert states == ({"SETTLED"} if whole else {"REJECTED"}), (chain, states)
        if whole:
            self.model.balance = trial.balance
        self.refused = not whole

    @rule(
        target=orders,
        who=st.sampled_from([*PEOPLE, "shop"]),
        scope=st.sampled_from(["FULL", "RECEIVE_ONLY"]),
    )
    def freeze(self, who, scope):
        self._step()
        order = services.wallet_freeze(
            actor=self.staff if who != "shop" else self.world.world.staff_of["CCB"],
            wallet=self.wallets[who],
            scope=FreezeScope(scope),
            reason="stateful",
        )
        self.model.orders[who].append(scope)
        return (who, scope, order)

    @rule(order=consumes(orders))
    def lift(self, order):
        self._step()
        who, scope, made = order
        services.freeze_lift(
            actor=self.staff if who != "shop" else self.world.world.staff_of["CCB"],
            order=made,
            reason="stateful",
        )
        self.model.orders[who].remove(scope)

    @rule(
        target=escrows, payer=st.sampled_from(PEOPLE), payee=st.sampled_from(PEOPLE), amount=amounts
    )
    def hold(self, payer, payee, amount):
        self._step()
        amount = self._amount(amount, payer)
        outcome = attempt(
            services.escrow_create,
            actor=self.staff,
            payer=self.wallets[payer].number,
            payee=self.wallets[payee].number,
            amount=amount,
            condition="PAYER_CONFIRMS",
            idempotency_key=key("escrow"),
        )
        if payer == payee:
            assert outcome.code == "SAME_ACCOUNT", outcome
            self.refused = True
            return None
        assert outcome.code == "", outcome
        done = self._transfer_done(outcome.value.transfer)
        self.refused = False  # a hold moves nothing, whichever way it goes
        if outcome.value.transfer.state == "PENDING":
            assert self.model.payable(payer, payee, amount), (payer, payee, amount)
            self.model.reserved[payer] += amount
        else:
            assert not done and not self.model.payable(payer, payee, amount)
        return (payer, payee, amount, outcome.value.pk)

    @rule(escrow=consumes(escrows), release=st.booleans())
    def decide(self, escrow, release):
        self._step()
        if escrow is None:
            return
        payer, payee, amount, pk = escrow
        made = Escrow.objects.get(pk=pk)
        if made.transfer.state != "PENDING":
            return
        if release:
            outcome = attempt(services.escrow_confirm, actor=self.world.holders[payer], escrow=made)
            assert outcome.code == "", outcome
            settle()
            post = Transfer.objects.get(pk=outcome.value.release_id)
            made.transfer.refresh_from_db()
            if post.state == "SETTLED":
                self.model.reserved[payer] -= amount
                self.model.move(payer, payee, amount)
            else:  # refused (a frozen payee): nothing moves, and the hold stays
                assert made.transfer.state == "PENDING", made.transfer.state
                assert not self.model.may_receive(payee) or not self.model.may_pay(payer)
                self.refused = True
        else:
            outcome = attempt(services.escrow_cancel, actor=self.staff, escrow=made)
            assert outcome.code == "", outcome
            settle()
            self.model.reserved[payer] -= amount

    @rule(target=subs, parent=st.sampled_from(PEOPLE), cap=amounts)
    def push(self, parent, cap):
        self._step()
        cap = self._amount(cap, parent)
        outcome = attempt(
            services.sub_wallet_push,
            actor=self.staff,
            parent=self.wallets[parent],
            merchant=self.world.shop.merchant.code,
            cap=cap,
            expires_at=timezone.now() + timedelta(days=30),
        )
        assert outcome.code == "", outcome
        sub = outcome.value
        name = f"sub:{sub.pk}"
        self.accounts[name] = sub.wallet.account_id
        self.model.balance[name] = self.model.reserved[name] = 0
        done = self._transfer_done(sub.fund_transfer)
        assert done == self.model.payable(parent, name, cap), (parent, cap)
        if done:
            self.model.move(parent, name, cap)
        return (parent, name, sub.pk)

    @rule(sub=subs, amount=amounts)
    def pull(self, sub, amount):
        self._step()
        _, name, pk = sub
        amount = self._amount(amount, name)
        outcome = attempt(
            services.sub_wallet_pull,
            actor=self.world.shop.staff,
            sub_wallet=SubWallet.objects.get(pk=pk),
            amount=amount,
            idempotency_key=key("pull"),
        )
        if outcome.code:
            self.refused = True
            return
        done = self._transfer_done(outcome.value.transfer)
        assert done == self.model.payable(name, "shop", amount), (name, amount)
        if done:
            self.model.move(name, "shop", amount)

    @rule(sub=consumes(subs))
    def revoke(self, sub):
        self._step()
        parent, name, pk = sub
        outcome = attempt(
            services.sub_wallet_revoke, actor=self.staff, sub_wallet=SubWallet.objects.get(pk=pk)
        )
        assert outcome.code == "", outcome
        settle()
        self.model.balance[parent] += (
            self.model.balance[name] if self.model.may_receive(parent) else 0
        )
        moved = self.model.balance[name] if self.model.may_receive(parent) else 0
        self.model.balance[name] -= moved

    # ------------------------------------------------------------ invariants

    @invariant()
    def balances_agree_with_the_model(self):
        now = held(self.accounts)
        expected = {n: (self.model.balance[n], self.model.reserved[n]) for n in self.accounts}
        assert now == expected
        assert all(balance >= reserved >= 0 for balance, reserved in now.values()), now
        if self.refused and self.before is not None:
            assert {name: now[name] for name in self.before} == self.before

    @invariant()
    def money_is_conserved(self):
        money_conserved()


def test_services_in_any_order_agree_with_a_plain_model(world, audit_key):
    def wallet(name, operator="ICBC"):
        return world.wallet(name, klass=1, operator=operator, load=2_000)

    class Parties:
        pass

    parties = Parties()
    parties.world = world
    parties.shop = world.merchant("Luohu Fresh Market", operator="CCB")
    parties.wallets = {name: wallet(name.title()) for name in PEOPLE}
    parties.wallets["shop"] = parties.shop.wallet
    parties.holders = {name: holder_actor(parties.wallets[name]) for name in PEOPLE}
    ServicesMachine.world = parties
    run_state_machine_as_test(
        ServicesMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
