"""python manage.py apitoken create --user NAME [--name N] [--ttl-days D] | list | revoke ID |
revoke-all --user NAME"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ewallet.errors import EwalletError
from wallets.actors import Actor
from wallets.auth import token_issue, token_revoke, tokens_revoke_all
from wallets.models import ApiToken


class Command(BaseCommand):
    help = "Issue, list and revoke API tokens. A new token's secret is printed once."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="issue a token and print its secret")
        create.add_argument("--user", required=True)
        create.add_argument("--name", default="cli")
        create.add_argument("--ttl-days", type=int)
        listing = sub.add_parser("list", help="tokens (never their secrets)")
        listing.add_argument("--user")
        revoke = sub.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("token_id", type=int)
        revoke_all = sub.add_parser("revoke-all", help="revoke every token of a user")
        revoke_all.add_argument("--user", required=True)

    def handle(self, *args, action: str, **options):
        getattr(self, action.replace("-", "_"))(**options)

    # Whoever runs manage.py holds the server: the command acts as the system.

    def create(self, *, user: str, name: str, ttl_days: int | None, **options) -> None:
        ttl = timedelta(days=ttl_days) if ttl_days else None
        try:
            secret, _ = token_issue(actor=Actor.system(), user=_user(user), name=name, ttl=ttl)
        except EwalletError as error:
            raise CommandError(error.message) from None
        self.stdout.write(secret)

    def list(self, *, user: str | None, **options) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("pk")
        if user:
            tokens = tokens.filter(user__username=user)
        for token in tokens:
            state = "revoked" if token.revoked_at else "live" if token.is_live() else "expired"
            self.stdout.write(
                f"{token.pk}\t{token.user.username}\t{token.name}\t{token.prefix}…\t{state}"
                f"\texpires {token.expires_at or 'never'}\tlast used {token.last_used_at or '-'}"
            )

    def revoke(self, *, token_id: int, **options) -> None:
        try:
            token_revoke(actor=Actor.system(), token_id=token_id)
        except EwalletError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"revoked token {token_id} and any minted with it")

    def revoke_all(self, *, user: str, **options) -> None:
        revoked = tokens_revoke_all(actor=Actor.system(), user=_user(user))
        self.stdout.write(f"revoked {revoked} tokens of {user}")


def _user(username: str):
    owner = get_user_model().objects.filter(username=username).first()
    if owner is None:
        raise CommandError(f"no user {username!r}")
    return owner
