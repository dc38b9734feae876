"""API tokens: a minted token never outlives its parent and dies with it; a cap per user;
revoke all; minted for oneself (the system, i.e. `manage.py apitoken`, for anyone)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from ewallet.errors import EwalletError
from wallets.actors import Actor
from wallets.auth import token_authenticate, token_issue, token_revoke, tokens_revoke_all
from wallets.models import ApiToken


@pytest.fixture
def alice(db):
    return Actor.of(User.objects.create_user("alice"))


def test_a_token_minted_with_a_token_expires_with_it_and_dies_with_it(alice):
    parent_secret, parent = token_issue(actor=alice, name="phone", ttl=timedelta(days=1))
    child_secret, child = token_issue(actor=alice, name="no expiry asked", minted_with=parent)
    _, grandchild = token_issue(
        actor=alice, name="a year asked", ttl=timedelta(days=365), minted_with=child
    )
    assert child.expires_at == parent.expires_at == grandchild.expires_at
    assert (child.parent_id, grandchild.parent_id) == (parent.pk, child.pk)
    _, shorter = token_issue(
        actor=alice, name="an hour", ttl=timedelta(hours=1), minted_with=parent
    )
    assert shorter.expires_at < parent.expires_at

    token_revoke(actor=alice, token_id=parent.pk)
    assert token_authenticate(parent_secret) is None
    assert token_authenticate(child_secret) is None
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 0
    with pytest.raises(EwalletError) as refused:  # a dead token mints nothing
        token_issue(actor=alice, name="late", minted_with=parent)
    assert refused.value.code == "PERMISSION_DENIED"


def test_tokens_are_minted_for_oneself(alice):
    bob = User.objects.create_user("bob")
    _, bobs = token_issue(actor=Actor.of(bob), name="bob's")
    for attempt in (
        lambda: token_issue(actor=alice, name="for bob", user=bob),
        lambda: token_issue(actor=alice, name="with bob's", minted_with=bobs),
    ):
        with pytest.raises(EwalletError) as refused:
            attempt()
        assert refused.value.code == "PERMISSION_DENIED"
    assert ApiToken.objects.filter(user=bob).count() == 1
    with pytest.raises(EwalletError) as refused:  # nor revoked by someone else
        token_revoke(actor=alice, token_id=bobs.pk)
    assert refused.value.code == "NOT_FOUND"
    _, minted = token_issue(actor=Actor.system(), name="ops", user=bob)
    assert minted.user == bob


def test_a_user_holds_a_bounded_number_of_live_tokens(alice, settings):
    settings.EWALLET_MAX_TOKENS_PER_USER = 3
    tokens = [token_issue(actor=alice, name=f"t{i}")[1] for i in range(3)]
    with pytest.raises(EwalletError) as refused:
        token_issue(actor=alice, name="one too many")
    assert (refused.value.code, refused.value.status) == ("TOKEN_LIMIT", 409)
    assert ApiToken.objects.count() == 3
    token_revoke(actor=alice, token_id=tokens[0].pk)  # revoked ones do not count
    token_issue(actor=alice, name="room again")


def test_revoke_all(alice, capsys):
    secrets = [token_issue(actor=alice, name=f"t{i}")[0] for i in range(3)]
    assert tokens_revoke_all(actor=alice) == 3
    assert [token_authenticate(s) for s in secrets] == [None, None, None]
    assert tokens_revoke_all(actor=alice) == 0
    token_issue(actor=alice, name="new")
    call_command("apitoken", "revoke-all", "--user", "alice")
    assert "revoked 1 tokens of alice" in capsys.readouterr().out
