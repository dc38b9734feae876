"""`Authorization: Bearer <token>` for the REST API (sessions serve the browsable API).

Each failed attempt counts against the caller's address; past EWALLET_AUTH_FAILURE_RATE the
address is answered 429 (wallets.api.throttling) before its token is even looked up, unless
this process saw that token live moments ago (a guess never is)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from wallets.api.throttling import auth_failure_count, auth_failures_refuse
from wallets.auth import token_authenticate, token_recently_live


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        try:
            secret = self._secret(header)
        except exceptions.AuthenticationFailed:
            auth_failures_refuse(request)
            auth_failure_count(request)
            raise
        if not token_recently_live(secret):
            auth_failures_refuse(request)
        token = token_authenticate(secret)
        if token is None:
            auth_failure_count(request)
            raise exceptions.AuthenticationFailed("the token is unknown, revoked or expired")
        return token.user, token

    def _secret(self, header) -> str:
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("use 'Authorization: Bearer <token>'")
        try:
            return header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("the token is not ASCII") from None

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "wallets.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token (ecny_...)."}
