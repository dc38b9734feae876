"""The client's address, the same for throttles and sign-in lockouts.

DRF's NUM_PROXIES rule (EWALLET_PROXY_COUNT): with no proxy of ours in front, REMOTE_ADDR,
whatever X-Forwarded-For says; behind N of them, the address the outermost one saw, counted
from the right of X-Forwarded-For, where a client cannot write.
"""

from rest_framework.throttling import BaseThrottle


def client_address(request) -> str:
    # DRF's rule reads only request.META, so a plain Django request does as well.
    return BaseThrottle().get_ident(request)
