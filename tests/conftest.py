"""Test set-up: which real services are here, and the builders every test uses.

Tests marked `postgres` need DATABASE_URL to point at PostgreSQL; tests marked `worker` also
need CELERY_BROKER_URL to point at Redis and start real `celery worker` processes. Without
them those tests are left out and the run says so; with EWALLET_REQUIRE_SERVICES=1 (CI)
their absence is an error instead, so CI can never pass by leaving tests out.
"""

import os

import pytest
from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread

from ewallet import celery_app
from tests.workers import start_worker  # noqa: F401  (a fixture for worker tests anywhere)

REQUIRE_SERVICES = os.environ.get("EWALLET_REQUIRE_SERVICES") == "1"


class _LiveServer(ThreadedWSGIServer):
    """The live server with room to queue a storm's connections: the storms open 50 at
    once, Django's listen queue holds 10, and on a loaded machine a connection that
    overflowed it was now and then reset instead of waiting to be accepted."""

    request_queue_size = 128


LiveServerThread.server_class = _LiveServer


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _has_redis_broker() -> bool:
    return os.environ.get("CELERY_BROKER_URL", "").startswith("redis://")


_left_out: dict[str, list[str]] = {}


def pytest_collection_modifyitems(config, items):
    missing = {}
    if not _on_postgres():
        missing["postgres"] = "DATABASE_URL is not PostgreSQL"
        missing["worker"] = "DATABASE_URL is not PostgreSQL"
    if not _has_redis_broker():
        missing["worker"] = "CELERY_BROKER_URL is not Redis"
        missing["redis"] = "CELERY_BROKER_URL is not Redis"
    keep, drop = [], []
    for item in items:
        reasons = [missing[m.name] for m in item.iter_markers() if m.name in missing]
        if reasons:
            drop.append(item)
            _left_out.setdefault(reasons[0], []).append(item.nodeid)
        else:
            keep.append(item)
    if drop and REQUIRE_SERVICES:
        raise pytest.UsageError(
            f"EWALLET_REQUIRE_SERVICES=1 but {len(drop)} tests need missing services: "
            + "; ".join(sorted(_left_out))
        )
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    for reason, nodeids in _left_out.items():
        terminalreporter.write_line(
            f"LEFT OUT {len(nodeids)} tests because {reason} "
            "(run `make test` where PostgreSQL and Redis answer, as CI does):",
            yellow=True,
        )
        for nodeid in nodeids:
            terminalreporter.write_line(f"  {nodeid}")


@pytest.fixture(autouse=True)
def _settle_in_process(request):
    """Outside worker tests, a doorbell settles in this process (the embedded default)."""
    if request.node.get_closest_marker("worker"):
        yield
        return
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture(autouse=True, scope="session")
def _audit_key_outside_the_checkout(tmp_path_factory):
    """Tests sign checkpoints with a key of their own, never one in ./var."""
    folder = tmp_path_factory.mktemp("keys")
    settings.EWALLET_AUDIT_KEY_FILE = folder / "audit-signing-key.pem"
    settings.EWALLET_AUDIT_TRUSTED_KEYS_FILE = folder / "audit-trusted-keys.txt"


@pytest.fixture
def audit_key(db):
    """The checkpoint signing key (created once per run, registered in each test's DB)."""
    from settlement.audit import keys

    keys.signing_key_ensure()
    return keys.signer()[0]


@pytest.fixture
def audit_rewrites_allowed(db):
    """For tests that tamper with the audit log on purpose: lets this connection through
    the append-only triggers (migration 0016) until the test ends."""
    from django.db import connection

    if not _on_postgres():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('ewallet.audit_rewrite', 'on', false)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('ewallet.audit_rewrite', '', false)")


@pytest.fixture
def world(db):
    """The central bank, ICBC and CCB with e-CNY issued, and role holders. See helpers.py."""
    from tests.helpers import World

    return World.build()
