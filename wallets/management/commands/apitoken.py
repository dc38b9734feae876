"""python manage.py apitoken create --user NAME [--name N] [--ttl-days D] | list | revoke ID"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ewallet.errors import EwalletError
from wallets.api.tokens import token_issue, token_revoke
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

    def handle(self, *args, action: str, **options):
        getattr(self, action)(**options)

    def create(self, *, user: str, name: str, ttl_days: int | None, **options) -> None:
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"no user {user!r}")
        ttl = timedelta(days=ttl_days) if ttl_days else None
        secret, _ = token_issue(user=owner, name=name, ttl=ttl)
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
        superuser = get_user_model()(is_superuser=True)
        try:
            token_revoke(actor=superuser, token_id=token_id)
        except EwalletError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"revoked token {token_id}")
