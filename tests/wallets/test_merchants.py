"""Merchants through the services: registration at the actor's own operator, and staff
logins with or without a console password."""

import pytest
from django.contrib.auth.models import User

from ewallet.errors import EwalletError
from tests.helpers import actor_with
from wallets import services
from wallets.actors import Actor
from wallets.auth import token_authenticate
from wallets.models import Merchant, MerchantStaff
from wallets.roles import Role


def refused(code: str, call, **kwargs) -> EwalletError:
    with pytest.raises(EwalletError) as caught:
        call(**kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


@pytest.fixture
def shop(world):
    return world.merchant("Luohu Tea House")


def enrol(world, merchant, **kwargs):
    return services.merchant_staff_enrol(
        actor=world.staff_of["ICBC"], merchant=merchant, name="back office", **kwargs
    )


def test_a_merchant_is_registered_at_the_actors_own_operator_by_default(world):
    merchant = services.merchant_register(
        actor=world.staff_of["CCB"],
        name="Futian Noodle Bar",
        mcc="5812",
        region="440304",
        licence_number="91440300MA5N000003",
    )
    assert merchant.operator == world.operators["CCB"]
    assert merchant.settlement_wallet.operator == world.operators["CCB"]
    # Only an operator's staff have an operator to register at.
    refused(
        "PERMISSION_DENIED",
        services.merchant_register,
        actor=world.checker,
        name="x",
        mcc="5812",
        region="440304",
        licence_number="91440300MA5N000004",
    )
    assert Merchant.objects.count() == 1


def test_staff_given_a_username_and_password_sign_in_to_the_console(world, shop):
    secret, token = enrol(world, shop.merchant, username=" tea_office ", password="oolong-tea-2024")
    user = User.objects.get(username="tea_office")
    assert token.user == user and token_authenticate(secret).user == user
    assert user.is_staff and not user.is_superuser
    assert user.check_password("oolong-tea-2024")
    assert list(user.groups.values_list("name", flat=True)) == [Role.MERCHANT]
    who = Actor.of(user)
    assert (who.merchant_id, who.operator_id, who.is_central_bank) == (
        shop.merchant.pk,
        None,
        False,
    )


def test_staff_without_a_password_have_the_token_alone(world, shop):
    _, token = enrol(world, shop.merchant)
    assert not token.user.is_staff and not token.user.has_usable_password()
    assert token.user.username.startswith(f"merchant-{shop.merchant.code}-")


@pytest.mark.parametrize(
    ("username", "password", "code", "field"),
    [
        ("tea_office", "", "INVALID_INPUT", "password"),
        ("", "oolong-tea-2024", "INVALID_INPUT", "username"),
        ("tea office!", "oolong-tea-2024", "INVALID_INPUT", "username"),
        ("tea_office", "short", "INVALID_INPUT", "password"),
        ("STAFF", "oolong-tea-2024", "CONFLICT", "username"),  # the world's "staff", any case
    ],
)
def test_a_console_login_needs_a_free_username_and_a_valid_password(
    world, shop, username, password, code, field
):
    users, logins = User.objects.count(), MerchantStaff.objects.count()
    error = refused(
        code,
        services.merchant_staff_enrol,
        actor=world.staff_of["ICBC"],
        merchant=shop.merchant,
        name="back office",
        username=username,
        password=password,
    )
    assert error.extra["field"] == field
    assert (User.objects.count(), MerchantStaff.objects.count()) == (users, logins)


def test_only_the_merchants_operator_enrols_its_staff(world, shop):
    kwargs = {
        "merchant": shop.merchant,
        "name": "x",
        "username": "x_1",
        "password": "oolong-tea-2024",
    }
    refused("NOT_FOUND", services.merchant_staff_enrol, actor=world.staff_of["CCB"], **kwargs)
    refused("PERMISSION_DENIED", services.merchant_staff_enrol, actor=world.checker, **kwargs)
    auditor = actor_with("auditor", Role.CB_AUDITOR)
    refused("PERMISSION_DENIED", services.merchant_staff_enrol, actor=auditor, **kwargs)
    refused("PERMISSION_DENIED", services.merchant_staff_enrol, actor=shop.staff, **kwargs)
    assert not User.objects.filter(username="x_1").exists()
