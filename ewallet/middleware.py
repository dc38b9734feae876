"""The project's own middlewares.

NoStoreMiddleware: responses of the app itself carry balances, tokens or personal data, so
no cache keeps them. Static assets never reach it (WhiteNoise answers them first,
cacheable); a view that set its own Cache-Control keeps it.

BrowserMiddleware: the middlewares only a browser needs (its session, the signed-in user
and their second factor, flash messages, the page's Content-Security-Policy, sign-in
lockouts) run as one link of the chain, and a request that authenticates with a bearer
token goes past them. Such a request carries no cookie and is not rendered by a browser;
skipping them takes about a tenth off the CPU of an API payment.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.cache import patch_cache_control
from django.utils.module_loading import import_string

from wallets.api.authentication import BearerTokenAuthentication

# What a bearer-token response gets instead of the console's policy: it is JSON, never a
# page, so it may load nothing and be framed by nobody.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response


# Everything under it is a DRF view (ewallet/urls.py); the console and the pay page are
# not, and need the session and user the browser link sets, whatever headers come.
API_PATH_PREFIX = "/api/"


def carries_bearer_token(request) -> bool:
    """An API request with the test BearerTokenAuthentication applies, word for word: the
    Authorization header's first word is "Bearer", in any case. Such a request is
    authenticated by that token or refused; a session is never consulted for it."""
    if not request.path_info.startswith(API_PATH_PREFIX):
        return False
    words = request.META.get("HTTP_AUTHORIZATION", "").split()
    return bool(words) and words[0].lower() == BearerTokenAuthentication.keyword.lower()


class BrowserMiddleware:
    """Runs settings.EWALLET_BROWSER_MIDDLEWARE, in its order, for every request but a
    bearer-token one. Django's handler calls the view, template-response and exception
    hooks of MIDDLEWARE's entries only, so a middleware with one of those (CSRF's view
    hook, say) belongs in MIDDLEWARE and is refused here."""

    HOOKS = ("process_view", "process_template_response", "process_exception")

    def __init__(self, get_response):
        self.get_response = get_response
        chain = get_response
        for path in reversed(settings.EWALLET_BROWSER_MIDDLEWARE):
            chain = import_string(path)(chain)
            hooks = [hook for hook in self.HOOKS if hasattr(chain, hook)]
            if hooks:
                raise ImproperlyConfigured(
                    f"{path} has {', '.join(hooks)}, which would not run from "
                    "EWALLET_BROWSER_MIDDLEWARE: list it in MIDDLEWARE"
                )
        self.browser_chain = chain

    def __call__(self, request):
        if carries_bearer_token(request):
            response = self.get_response(request)
            response.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)
            return response
        return self.browser_chain(request)
