"""The yardstick for the payment API: one DRF view doing one INSERT, nothing else.

No authentication, idempotency, validation or settlement. `bench/api.sh bare` serves it
with the same gunicorn and wrk settings as `bench/api.sh pay`, so the two can be compared
in one sitting on a machine whose speed varies.
"""

import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bare-baseline",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BARE_DB", "ewallet_bare"),
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "CONN_MAX_AGE": 600,
        }
    },
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "UNAUTHENTICATED_USER": None,
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 (after settings)
from django.db import connection  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

TABLE = "CREATE TABLE IF NOT EXISTS bare_payment (id bigserial PRIMARY KEY, payer text, payee text)"


class Pay(APIView):
    def post(self, request):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bare_payment (payer, payee) VALUES (%s, %s) RETURNING id",
                [request.data["payer"], request.data["payee"]],
            )
            (payment_id,) = cursor.fetchone()
        return Response({"id": payment_id}, status=202)


urlpatterns = [path("api/v1/transfers", Pay.as_view())]
application = get_wsgi_application()
