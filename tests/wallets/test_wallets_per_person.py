"""One person, counted across operators through the central bank's keyed hash of their
identity (or phone) number, holds at most `wallets_per_person` open personal wallets of a
class: by default one anonymous (class-4) wallet per phone number, classes 1-3 uncapped.

Worked examples: Anon's phone number opens a class-4 wallet at ICBC, and then none at CCB
(however the number is written), nor a second at ICBC, until the first is closed; a
named person's wallet moved into class 4 counts like an opening; policy staff cap class 2
and the cap binds across operators by identity number. On PostgreSQL, openings for one
phone at all eight operators racing: exactly one goes through.
"""

from collections import Counter

import pytest

from ewallet.errors import EwalletError
from tests.helpers import World, actor_with
from wallets import services
from wallets.models import KycMethod, LinkedPerson, Wallet, WalletClass
from wallets.roles import Role

PHONE = "13800138000"


def refused(code: str, call, *args, **kwargs) -> EwalletError:
    with pytest.raises(EwalletError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def anonymous(world: World, operator: str, phone: str = PHONE, name: str = "Anon"):
    """A phone-only holder KYC'd at `operator` (no wallet yet)."""
    return services.holder_register(
        actor=world.staff_of[operator],
        operator=world.operators[operator],
        display_name=name,
        kyc_method=KycMethod.PHONE_ONLY,
        phone=phone,
    )


def named(world: World, operator: str, id_number: str = "110101199001011234", name="Alice"):
    return services.holder_register(
        actor=world.staff_of[operator],
        operator=world.operators[operator],
        display_name=name,
        kyc_method=KycMethod.REMOTE_ID_BANK,
        id_number=id_number,
        bank_account="6222000011112222",
    )


def test_the_defaults_cap_class_4_at_one_wallet_a_person_and_leave_1_to_3_uncapped(db):
    World.build()
    caps = dict(WalletClass.objects.values_list("number", "wallets_per_person"))
    assert caps == {1: None, 2: None, 3: None, 4: 1}


def test_one_phone_number_opens_one_anonymous_wallet_across_all_operators(world):
    at_icbc = anonymous(world, "ICBC")
    first = services.wallet_open(actor=world.staff_of["ICBC"], holder=at_icbc)
    assert first.wallet_class_id == 4

    # The same person at CCB, the number written another way: one person to the central bank.
    at_ccb = anonymous(world, "CCB", phone="+86 138 0013 8000", name="A. Non")
    assert at_ccb.identity_link == at_icbc.identity_link
    error = refused(
        "WALLET_LIMIT_PER_PERSON", services.wallet_open, actor=world.staff_of["CCB"], holder=at_ccb
    )
    assert error.status == 409
    assert error.extra == {"wallet_class": 4, "limit": 1}
    # Nothing in the refusal says where the other wallet is.
    assert "ICBC" not in error.message and first.number not in error.message
    assert not Wallet.objects.filter(holder=at_ccb).exists()

    # Nor a second one at ICBC, for the same record.
    refused(
        "WALLET_LIMIT_PER_PERSON",
        services.wallet_open,
        actor=world.staff_of["ICBC"],
        holder=at_icbc,
    )
    # Another phone number is another person.
    other = anonymous(world, "CCB", phone="13900139000", name="Someone else")
    assert services.wallet_open(actor=world.staff_of["CCB"], holder=other).wallet_class_id == 4
    assert LinkedPerson.objects.filter(identity_link=at_icbc.identity_link).count() == 1


def test_a_closed_wallet_frees_its_place(world):
    at_icbc = anonymous(world, "ICBC")
    first = services.wallet_open(actor=world.staff_of["ICBC"], holder=at_icbc)
    services.wallet_close(actor=world.staff_of["ICBC"], wallet=first, reason="moving to CCB")
    at_ccb = anonymous(world, "CCB")
    wallet = services.wallet_open(actor=world.staff_of["CCB"], holder=at_ccb)
    assert (wallet.operator.code, wallet.wallet_class_id) == ("CCB", 4)


def test_a_named_persons_wallet_moved_into_class_4_counts_as_opening_one(world):
    alice = named(world, "ICBC")
    staff = world.staff_of["ICBC"]
    class_2 = services.wallet_open(actor=staff, holder=alice)
    anonymous_one = services.wallet_open(actor=staff, holder=alice, wallet_class=4)
    assert (class_2.wallet_class_id, anonymous_one.wallet_class_id) == (2, 4)
    refused(
        "WALLET_LIMIT_PER_PERSON", services.wallet_open, actor=staff, holder=alice, wallet_class=4
    )
    refused(
        "WALLET_LIMIT_PER_PERSON",
        services.wallet_change_class,
        actor=staff,
        wallet=class_2,
        wallet_class=4,
    )
    class_2.refresh_from_db()
    assert class_2.wallet_class_id == 2
    # Changing to the class it already has is no new wallet; out of class 4 frees the place.
    services.wallet_change_class(actor=staff, wallet=anonymous_one, wallet_class=4)
    services.wallet_change_class(actor=staff, wallet=anonymous_one, wallet_class=3)
    assert services.wallet_change_class(actor=staff, wallet=class_2, wallet_class=4)


def test_named_classes_are_uncapped_until_policy_caps_them_then_across_operators(world):
    policy = world.policy
    alice_icbc, alice_ccb = named(world, "ICBC"), named(world, "CCB", name="Alice W.")
    for _ in range(3):
        services.wallet_open(actor=world.staff_of["ICBC"], holder=alice_icbc, wallet_class=2)
    services.wallet_class_update(actor=policy, number=2, wallets_per_person=3)
    refused(
        "WALLET_LIMIT_PER_PERSON",
        services.wallet_open,
        actor=world.staff_of["CCB"],
        holder=alice_ccb,
        wallet_class=2,
    )
    # Someone else at CCB, another identity number, is not held back by Alice's wallets.
    bob = named(world, "CCB", id_number="440301198807070011", name="Bob")
    services.wallet_open(actor=world.staff_of["CCB"], holder=bob, wallet_class=2)
    # Lifting the cap lets Alice open again; the change is in the class's history.
    services.wallet_class_update(actor=policy, number=2, wallets_per_person=None)
    services.wallet_open(actor=world.staff_of["CCB"], holder=alice_ccb, wallet_class=2)
    caps = list(
        WalletClass.history.filter(number=2).order_by("history_id")
        .values_list("wallets_per_person", "history_user__username")
    )  # fmt: skip
    assert caps[-2:] == [(3, "policy"), (None, "policy")]


def test_merchant_wallets_are_not_counted(world):
    # A merchant is KYC'd by its licence; its settlement wallets are not a person's.
    shop = world.merchant("Luohu Fresh Market")
    services.wallet_class_update(actor=world.policy, number=1, wallets_per_person=1)
    services.wallet_open(actor=world.staff, holder=shop.merchant.holder)
    assert shop.merchant.holder.wallets.count() == 2


@pytest.mark.parametrize("cap", [0, -1, 1001, True, "2", 1.0])
def test_a_cap_is_a_whole_number_from_1_to_1000(world, cap):
    refused(
        "INVALID_INPUT",
        services.wallet_class_update,
        actor=world.policy,
        number=4,
        wallets_per_person=cap,
    )
    assert WalletClass.objects.get(number=4).wallets_per_person == 1


def test_only_policy_staff_set_the_cap(world):
    for who in (world.maker, world.checker, world.staff, actor_with("auditor", Role.CB_AUDITOR)):
        refused(
            "PERMISSION_DENIED",
            services.wallet_class_update,
            actor=who,
            number=4,
            wallets_per_person=5,
        )
    assert WalletClass.objects.get(number=4).wallets_per_person == 1


EIGHT = ("ICBC", "ABC", "BOC", "CCB", "BOCOM", "PSBC", "WEBANK", "MYBANK")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_openings_for_one_phone_racing_at_eight_operators_open_exactly_one(audit_key):
    """One phone number KYC'd at each of the eight operators (written with the country
    code at half of them); the person held a wallet before and closed it, so their row
    already exists and nothing but its lock stands between the openings. All eight are
    opened by their operators' staff at the same moment: exactly one goes through."""
    from tests.settlement.test_postgres import in_threads

    world = World.build(operators=EIGHT)
    earlier = services.wallet_open(actor=world.staff_of["ICBC"], holder=anonymous(world, "ICBC"))
    services.wallet_close(actor=world.staff_of["ICBC"], wallet=earlier, reason="closed")
    holders = [
        anonymous(world, code, phone=PHONE if i % 2 else "+86 138-0013-8000", name=f"Anon {i}")
        for i, code in enumerate(EIGHT)
    ]
    assert len({holder.identity_link for holder in holders}) == 1
    assert LinkedPerson.objects.filter(identity_link=holders[0].identity_link).exists()

    def open_one(i: int) -> str:
        holder = holders[i]
        try:
            services.wallet_open(actor=world.staff_of[holder.operator.code], holder=holder)
        except EwalletError as error:
            return str(error.code)
        return "opened"

    results = Counter(in_threads(len(holders), open_one))
    assert results == {"opened": 1, "WALLET_LIMIT_PER_PERSON": 7}
    assert Wallet.objects.filter(holder__in=holders).count() == 1
