"""Settings, read from the environment.

The embedded default needs nothing: a SQLite file under ./var and settlement in-process
(Celery eager). Point DATABASE_URL at PostgreSQL and CELERY_BROKER_URL at Redis for the
real thing: settlement then runs in `celery worker` processes.
"""

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EWALLET_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEBUG = env_bool("EWALLET_DEBUG", False)
# Production mode (README, "Hardening"): anything real runs with EWALLET_PRODUCTION=1. It
# refuses to start without its own SECRET_KEY and host names, and turns on HTTPS-only
# cookies, HSTS and the HTTPS redirect. Without it (a laptop, `make demo`, the tests) the
# same code runs over plain HTTP with a per-checkout key and local host names only.
PRODUCTION = env_bool("EWALLET_PRODUCTION", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("EWALLET_PRODUCTION=1 cannot run with EWALLET_DEBUG on")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION or (not DEBUG and env_bool("EWALLET_REQUIRE_SECRET_KEY", False)):
        raise ImproperlyConfigured("SECRET_KEY must be set (e.g. openssl rand -hex 32)")
    # Only good for a laptop: every process of one checkout derives the same value.
    SECRET_KEY = "insecure-local-" + str(BASE_DIR)
_hosts = os.environ.get("EWALLET_ALLOWED_HOSTS", "")
if PRODUCTION and (not _hosts.strip() or "*" in _hosts):
    raise ImproperlyConfigured("EWALLET_ALLOWED_HOSTS must name this site's hosts (no '*')")
ALLOWED_HOSTS = [h.strip() for h in (_hosts or "localhost,127.0.0.1,[::1]").split(",") if h]
# How many reverse proxies of ours stand in front of the app: the client's address is the
# one the outermost of them saw (X-Forwarded-For read from the right, DRF's NUM_PROXIES).
# 0: REMOTE_ADDR, and X-Forwarded-For is ignored, since anyone can write it.
EWALLET_PROXY_COUNT = env_int("EWALLET_PROXY_COUNT", 0)
if EWALLET_PROXY_COUNT:
    # Our proxy terminates TLS and says so; only it can set this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = PRODUCTION
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_HSTS_SECONDS = env_int("EWALLET_HSTS_SECONDS", 365 * 24 * 3600) if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
# A console or pay-page session ends after this many idle seconds, and with the browser.
SESSION_COOKIE_AGE = env_int("EWALLET_SESSION_SECONDS", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

INSTALLED_APPS = [
    # The console's theme; it must come before django.contrib.admin.
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    # Locks out a username at an address after repeated failed sign-ins.
    "axes",
    # TOTP second factor for central-bank staff in the console (wallets.console.login).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "settlement",
    "wallets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    # For every request: DRF's views are exempt and check a session's token themselves, and
    # the deployment checks of the CSRF cookie look for it here.
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "ewallet.middleware.NoStoreMiddleware",
    # Last: the browser's middlewares below, which a bearer-token request skips.
    "ewallet.middleware.BrowserMiddleware",
]
EWALLET_BROWSER_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "wallets.console.login.StaffTotpMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its lockout response.
    "axes.middleware.AxesMiddleware",
]
# The admin's and django-axes' checks look for their middlewares in MIDDLEWARE only; they
# run, one level down, in the list above (tests/test_browser_middleware.py holds them there).
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410", "axes.W002"]

ROOT_URLCONF = "ewallet.urls"
WSGI_APPLICATION = "ewallet.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'ewallet.sqlite3'}"),
        conn_max_age=env_int("EWALLET_DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of failing
    # half-way with "database is locked"; WAL lets readers go on meanwhile.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    VAR_DIR.mkdir(parents=True, exist_ok=True)
# The hottest statement, the one-statement payment, is prepared once per connection
# (`settlement.sql.fetch_prepared`): each run then skips parsing and planning. A pooler in
# transaction mode cannot keep a session's prepared statements; turn them off behind one.
EWALLET_DB_PREPARED_STATEMENTS = env_bool("EWALLET_DB_PREPARED_STATEMENTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg prepares nothing with no threshold; with this one it prepares only what is
    # asked for by name. Django's own queries bind client-side, which never prepares.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        2**31 - 1 if EWALLET_DB_PREPARED_STATEMENTS else None
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in lockout (django-axes): this many failed passwords for one username from one
# address lock that pair out for EWALLET_LOCKOUT_MINUTES; a success before then resets the
# count. The address is the one the throttles use (EWALLET_PROXY_COUNT).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("EWALLET_LOCKOUT_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("EWALLET_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "ewallet.client_address.client_address"
# Central-bank staff sign in to the console with a TOTP code as well (`manage.py
# totp_enroll USERNAME` enrols their authenticator). On in production mode; off otherwise,
# so the demo and the tests sign in with passwords.
EWALLET_CONSOLE_TOTP = env_bool("EWALLET_CONSOLE_TOTP", PRODUCTION)
OTP_TOTP_ISSUER = "e-CNY console"

LANGUAGE_CODE = "en-us"
# A "day" for daily limits is a calendar day in China Standard Time.
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise serves the console's assets from the app itself (gunicorn included), straight
# from the apps' static folders, so no collectstatic step is needed.
MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one
WHITENOISE_AUTOREFRESH = DEBUG

# --- The console (Django admin, themed by django-unfold) --------------------------------
LOGIN_URL = "admin:login"
UNFOLD = {
    "SITE_TITLE": "e-CNY console",
    "SITE_HEADER": "e-CNY console",
    "SITE_SUBHEADER": "Central bank, operators and merchants",
    "SITE_SYMBOL": "account_balance",
    "SITE_URL": "/admin/",
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "wallets.console.dashboard.dashboard_callback",
    "COLORS": {
        # The central bank's red.
        "primary": {
            "50": "oklch(97.1% .013 17.38)",
            "100": "oklch(93.6% .032 17.717)",
            "200": "oklch(88.5% .062 18.334)",
            "300": "oklch(80.8% .114 19.571)",
            "400": "oklch(70.4% .191 22.216)",
            "500": "oklch(63.7% .237 25.331)",
            "600": "oklch(57.7% .245 27.325)",
            "700": "oklch(50.5% .213 27.518)",
            "800": "oklch(44.4% .177 26.899)",
            "900": "oklch(39.6% .141 25.723)",
            "950": "oklch(25.8% .092 26.042)",
        },
    },
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "wallets.console.navigation.sidebar",
    },
}

# Content-Security-Policy (django-csp). The console's Alpine.js (django-unfold) evaluates
# its attribute expressions, and unfold and our templates style inline: hence the two
# relaxations; scripts still load only from this site, and no page may be framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, UNSAFE_EVAL],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Celery -----------------------------------------------------------------------------
# No broker means settlement runs in-process: tasks execute eagerly where they are sent.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged only after it ran, and a worker that dies mid-task gives its task
# back; both are safe because settlement re-reads the database and is idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fix-up closes a worker's database connections after every task unless
# this is set (CONN_MAX_AGE is not consulted): a new PostgreSQL backend per doorbell cost
# more than the small batch it settled. They are closed after twice this many tasks.
CELERY_DB_REUSE_MAX = env_int("EWALLET_WORKER_DB_REUSE_MAX", 500)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
CELERY_TIMEZONE = TIME_ZONE

REDIS_URL = os.environ.get(
    "EWALLET_REDIS_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
)
CELERY_BEAT_SCHEDULE = {
    # Settles anything whose doorbell was lost; expires so stale sweeps never pile up.
    "settlement-sweep": {
        "task": "settlement.settle_pending",
        "schedule": float(os.environ.get("EWALLET_SWEEP_SECONDS", "2")),
        "options": {"expires": float(os.environ.get("EWALLET_SWEEP_SECONDS", "2"))},
    },
    # Seals a signed checkpoint over new audit leaves, if there are any.
    # A draining worker also seals between batches when one is due (settlement.tasks).
    "audit-checkpoint": {
        "task": "settlement.seal_checkpoint",
        "schedule": float(os.environ.get("EWALLET_CHECKPOINT_SECONDS", "0.5")),
        "options": {"expires": float(os.environ.get("EWALLET_CHECKPOINT_SECONDS", "0.5"))},
    },
    # Releases RELEASE_AT conditional payments whose time has come.
    "escrow-release-sweep": {
        "task": "wallets.escrows_release_due",
        "schedule": float(os.environ.get("EWALLET_ESCROW_SWEEP_SECONDS", "10")),
        "options": {"expires": float(os.environ.get("EWALLET_ESCROW_SWEEP_SECONDS", "10"))},
    },
    # Delivers webhook events whose retry fell due, or whose ring was lost.
    # Returns to their parents what expired sub-wallets still hold.
    "sub-wallet-sweep": {
        "task": "wallets.sub_wallets_expire",
        "schedule": float(os.environ.get("EWALLET_SUB_WALLET_SWEEP_SECONDS", "60")),
        "options": {"expires": float(os.environ.get("EWALLET_SUB_WALLET_SWEEP_SECONDS", "60"))},
    },
    "webhook-sweep": {
        "task": "wallets.webhooks_deliver_due",
        "schedule": float(os.environ.get("EWALLET_WEBHOOK_SWEEP_SECONDS", "5")),
        "options": {"expires": float(os.environ.get("EWALLET_WEBHOOK_SWEEP_SECONDS", "5"))},
    },
    # Returns the unspent value of voucher programmes past their window.
    "voucher-sweep": {
        "task": "wallets.vouchers_expire",
        "schedule": float(os.environ.get("EWALLET_VOUCHER_SWEEP_SECONDS", "60")),
        "options": {"expires": float(os.environ.get("EWALLET_VOUCHER_SWEEP_SECONDS", "60"))},
    },
    # Forgets Idempotency-Key records past EWALLET_IDEMPOTENCY_RETENTION_HOURS.
    "idempotency-prune": {
        "task": "wallets.idempotency_records_prune",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
}
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- The product ------------------------------------------------------------------------
# Transfers claimed by one settlement transaction, at most: a drain takes what has queued,
# so this bites only when settlement falls behind. There a batch's fixed statements and
# the workers' waits for each other's account locks are paid once per this many: 1,000
# let a flat-out steady run outpace settlement (queue and latency grew); 5,000 kept up.
EWALLET_SETTLEMENT_BATCH_SIZE = env_int("EWALLET_SETTLEMENT_BATCH_SIZE", 5000)
# A worker process starts at most one drain per this many milliseconds (settlement.tasks.
# DrainCadence): under load, batches fill instead of settling a handful each.
EWALLET_SETTLEMENT_CADENCE_MS = env_int("EWALLET_SETTLEMENT_CADENCE_MS", 100)
# How often a checkpoint is due: beat seals one, and so does a worker between batches.
EWALLET_CHECKPOINT_SECONDS = float(os.environ.get("EWALLET_CHECKPOINT_SECONDS", "0.5"))
# The audit log's checkpoints: their origin line (also the signing key's name), the PEM
# file holding the central bank's Ed25519 key (never in the repository or the database),
# (how often beat seals one: EWALLET_CHECKPOINT_SECONDS, in CELERY_BEAT_SCHEDULE).
EWALLET_AUDIT_ORIGIN = os.environ.get("EWALLET_AUDIT_ORIGIN", "ecny.example/pboc/audit")
EWALLET_AUDIT_KEY_FILE = Path(
    os.environ.get("EWALLET_AUDIT_KEY_FILE", VAR_DIR / "keys" / "audit-signing-key.pem")
)
# The verifier keys `audit verify` trusts, held outside the database so that whoever can
# write the database cannot also vouch for a key of their own: one C2SP verifier key a
# line in this file (`audit keygen` appends each key it makes), plus any in
# EWALLET_AUDIT_TRUSTED_KEYS (separated by spaces or commas), e.g. an outside auditor's.
EWALLET_AUDIT_TRUSTED_KEYS_FILE = Path(
    os.environ.get("EWALLET_AUDIT_TRUSTED_KEYS_FILE", VAR_DIR / "keys" / "audit-trusted-keys.txt")
)
EWALLET_AUDIT_TRUSTED_KEYS = os.environ.get("EWALLET_AUDIT_TRUSTED_KEYS", "")

# --- The REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "wallets.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["wallets.api.throttling.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["wallets.api.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "ewallet.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": EWALLET_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "e-CNY wallet API",
    "DESCRIPTION": (
        "Wallets, payments, issuance and the audit log of the e-CNY wallet prototype. "
        "Amounts are strings of yuan with at most two decimals (and integers of fen in "
        "`*_fen` fields). Errors are RFC 9457 problem details with a stable `code`. "
        "Every money-moving POST needs an `Idempotency-Key` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "TransferStateEnum": "settlement.models.TransferState",
        "TransferKindEnum": "settlement.models.TransferKind",
        "AccountStatusEnum": "settlement.models.AccountStatus",
        "RejectCodeEnum": "settlement.models.RejectCode",
        "HolderKindEnum": "wallets.models.HolderKind",
        "WalletKindEnum": "wallets.models.WalletKind",
        "KycMethodEnum": "wallets.models.KycMethod",
        "IssuanceStateEnum": "wallets.models.IssuanceState",
        "IssuanceDirectionEnum": "wallets.models.IssuanceDirection",
        "MerchantStatusEnum": "wallets.models.MerchantStatus",
        "PaymentRequestKindEnum": "wallets.models.PaymentRequestKind",
        "RequestStateEnum": "wallets.models.RequestState",
        "VoucherProgrammeStatusEnum": "wallets.models.VoucherProgrammeStatus",
        "DeliveryStateEnum": "wallets.models.DeliveryState",
        "WebhookEventTypeEnum": "wallets.models.WebhookEventType",
        "MoneyDirectionEnum": [("in", "in"), ("out", "out")],
        "HealthStatusEnum": [("ok", "ok"), ("degraded", "degraded")],
        "OfflineDeviceStateEnum": "wallets.models.OfflineDeviceState",
        "DoubleSpendShapeEnum": "wallets.models.DoubleSpendShape",
        "OfflinePaymentStateEnum": [(s, s) for s in ("SETTLED", "QUEUED", "HELD", "SHORT")],
        "SyncOutcomeEnum": [(s, s) for s in ("ACCEPTED", "DUPLICATE", "REFUSED")],
    },
}
# Problem `type` URIs are this plus the code in kebab case (RFC 9457 section 3.1.1).
EWALLET_PROBLEM_BASE_URL = os.environ.get(
    "EWALLET_PROBLEM_BASE_URL", "https://ecny.example/problems/"
)
# Per user (whichever of their tokens they use) and per address for anonymous callers:
# "N/s", "N/min"...
EWALLET_API_RATE = os.environ.get("EWALLET_API_RATE", "2000/s")
# Requests waiting for settlement (`?wait=`) at once, across all web processes; more are
# answered at once, queued (wallets/api/waiting.py). Keep it under the web workers' count.
EWALLET_API_MAX_WAITING = int(os.environ.get("EWALLET_API_MAX_WAITING", "8"))
EWALLET_API_ANON_RATE = os.environ.get("EWALLET_API_ANON_RATE", "50/s")
# Failed authentications (unknown, revoked or expired bearer tokens) one address may make;
# past it every bearer request from there is answered 429 until the window ends.
EWALLET_AUTH_FAILURE_RATE = os.environ.get("EWALLET_AUTH_FAILURE_RATE", "20/min")
# How long each process remembers a token and its user's roles (changes made through the
# ORM are seen at once by the process that made them; by others within this many seconds).
EWALLET_AUTH_CACHE_SECONDS = float(os.environ.get("EWALLET_AUTH_CACHE_SECONDS", "5"))
# An Idempotency-Key claimed this long ago by a request that never finished is free again.
EWALLET_IDEMPOTENCY_CLAIM_SECONDS = env_int("EWALLET_IDEMPOTENCY_CLAIM_SECONDS", 60)
# How long an Idempotency-Key's first response is kept for replay (Stripe keeps 24 hours);
# beat's hourly sweep forgets older ones.
EWALLET_IDEMPOTENCY_RETENTION_HOURS = env_int("EWALLET_IDEMPOTENCY_RETENTION_HOURS", 24)
# Live API tokens one user may hold at once.
EWALLET_MAX_TOKENS_PER_USER = env_int("EWALLET_MAX_TOKENS_PER_USER", 20)
# The central bank's key for linking one person's KYC records at several operators
# (wallets/identity.py). Hex; by default derived from SECRET_KEY, so set both anywhere real.
EWALLET_IDENTITY_LINK_KEY = (
    bytes.fromhex(os.environ.get("EWALLET_IDENTITY_LINK_KEY", ""))
    or hashlib.sha256(b"identity-link:" + SECRET_KEY.encode()).digest()
)
# Controllable anonymity: disclosing who is behind an anonymous (phone-only) holder's
# pseudonym takes this many central-bank approvers besides its requester (at least 2); an
# unapproved request lapses after EWALLET_DISCLOSURE_REQUEST_DAYS, and once approved the
# identity may be read for EWALLET_DISCLOSURE_ACCESS_DAYS (README, "Controllable anonymity").
EWALLET_DISCLOSURE_APPROVALS = max(2, env_int("EWALLET_DISCLOSURE_APPROVALS", 2))
EWALLET_DISCLOSURE_REQUEST_DAYS = env_int("EWALLET_DISCLOSURE_REQUEST_DAYS", 7)
EWALLET_DISCLOSURE_ACCESS_DAYS = env_int("EWALLET_DISCLOSURE_ACCESS_DAYS", 30)
# Merchant acquiring. The key that signs payment requests' QR payloads (wallets/qr.py): hex,
# by default derived from SECRET_KEY like the identity-link key.
EWALLET_QR_KEY = (
    bytes.fromhex(os.environ.get("EWALLET_QR_KEY", ""))
    or hashlib.sha256(b"qr-payload:" + SECRET_KEY.encode()).digest()
)
# How long a dynamic payment request is payable when its merchant names no expiry, and at
# most, in seconds.
EWALLET_REQUEST_TTL_SECONDS = env_int("EWALLET_REQUEST_TTL_SECONDS", 15 * 60)
EWALLET_REQUEST_MAX_TTL_SECONDS = env_int("EWALLET_REQUEST_MAX_TTL_SECONDS", 7 * 24 * 3600)
# How long after a payment its merchant may refund it, in days.
EWALLET_REFUND_WINDOW_DAYS = env_int("EWALLET_REFUND_WINDOW_DAYS", 180)
# Conditional payments (escrow): how long one holds the payer's funds when its creator names
# no timeout (at most settlement's MAX_PENDING_TIMEOUT, 90 days), and how long the release
# sweep waits before trying again to release a RELEASE_AT escrow whose release the ledger
# refused (e.g. the payee's wallet frozen), in seconds.
EWALLET_ESCROW_TIMEOUT_SECONDS = env_int("EWALLET_ESCROW_TIMEOUT_SECONDS", 7 * 24 * 3600)
EWALLET_ESCROW_RETRY_SECONDS = env_int("EWALLET_ESCROW_RETRY_SECONDS", 3600)
# Sub-wallets: how far ahead one may expire at most (days; beat's sweep runs every
# EWALLET_SUB_WALLET_SWEEP_SECONDS, in CELERY_BEAT_SCHEDULE); how long after a rejected
# return (the parent frozen, or at its balance cap) the sweep tries again (seconds).
EWALLET_SUB_WALLET_MAX_DAYS = env_int("EWALLET_SUB_WALLET_MAX_DAYS", 366)
EWALLET_SUB_WALLET_RETRY_SECONDS = env_int("EWALLET_SUB_WALLET_RETRY_SECONDS", 3600)
# Dual-offline hardware wallets: the offline certificate authority's Ed25519 private key
# (hex, 32 bytes; by default derived from SECRET_KEY like the keys above), how long a
# device's certificate is valid (days), and how long after the ledger refused to pay an
# offline payment (the payee's wallet frozen, or at its cap) a sync tries again (seconds).
EWALLET_OFFLINE_CA_KEY = (
    bytes.fromhex(os.environ.get("EWALLET_OFFLINE_CA_KEY", ""))
    or hashlib.sha256(b"offline-ca:" + SECRET_KEY.encode()).digest()
)
EWALLET_OFFLINE_CERT_DAYS = env_int("EWALLET_OFFLINE_CERT_DAYS", 365)
EWALLET_OFFLINE_RETRY_SECONDS = env_int("EWALLET_OFFLINE_RETRY_SECONDS", 3600)
# Webhooks: per-attempt timeout (seconds), how long a delivery is retried before it is
# given up (seconds), the first retry's delay (doubling each time, with jitter), how long
# a rotated-out secret still signs beside the new one (seconds), and whether targets on
# private or loopback addresses are allowed (link-local ones never are).
EWALLET_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("EWALLET_WEBHOOK_TIMEOUT_SECONDS", "5"))
EWALLET_WEBHOOK_RETRY_SECONDS = env_int("EWALLET_WEBHOOK_RETRY_SECONDS", 24 * 3600)
EWALLET_WEBHOOK_FIRST_RETRY_SECONDS = float(
    os.environ.get("EWALLET_WEBHOOK_FIRST_RETRY_SECONDS", "10")
)
EWALLET_WEBHOOK_ROTATION_GRACE_SECONDS = env_int(
    "EWALLET_WEBHOOK_ROTATION_GRACE_SECONDS", 24 * 3600
)
EWALLET_WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("EWALLET_WEBHOOK_ALLOW_PRIVATE_TARGETS", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("EWALLET_LOG_LEVEL", "WARNING")},
    # kombu warns at exit about the in-memory broker's missing hostname; it means nothing.
    "loggers": {"kombu.connection": {"level": "ERROR"}},
}
