from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from wallets.web import pay

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("wallets.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    # ReDoc starts from an inline script and renders in a blob: worker.
    path(
        "api/redoc/",
        csp_update({"script-src": [UNSAFE_INLINE], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="schema")
        ),
        name="redoc",
    ),
    path("api-auth/", include("rest_framework.urls")),
    # A holder's phone opens a scanned merchant code here.
    path("pay/", pay.pay_page, name="pay"),
    path("pay/payments/<int:transfer_id>/", pay.payment_page, name="pay-payment"),
]

handler404 = "ewallet.problems.not_found"
handler500 = "ewallet.problems.server_error"
