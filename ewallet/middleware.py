"""Responses of the app itself carry balances, tokens or personal data: no cache keeps them.

Static assets never reach this (WhiteNoise answers them first, cacheable); a view that set
its own Cache-Control keeps it.
"""

from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response
