from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from wallets.web import pay

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("wallets.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api-auth/", include("rest_framework.urls")),
    # A holder's phone opens a scanned merchant code here.
    path("pay/", pay.pay_page, name="pay"),
    path("pay/payments/<int:transfer_id>/", pay.payment_page, name="pay-payment"),
]

handler404 = "ewallet.problems.not_found"
handler500 = "ewallet.problems.server_error"
