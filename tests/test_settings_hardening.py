"""Production mode (EWALLET_PRODUCTION=1): it refuses to start half-configured, and Django's
own deployment checks pass in it. Each case starts `manage.py` afresh, since settings are
read once per process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
A_SECRET_KEY = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"  # made up, for this test


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EWALLET_", "SECRET_"))}
    base["EWALLET_VAR_DIR"] = os.environ.get("EWALLET_VAR_DIR", str(ROOT / "var"))
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_mode_refuses_to_start_without_a_secret_key():
    run = manage("check", EWALLET_PRODUCTION="1", EWALLET_ALLOWED_HOSTS="ecny.example")
    assert run.returncode != 0
    assert "SECRET_KEY must be set" in run.stderr


def test_production_mode_refuses_to_start_without_its_host_names():
    run = manage("check", EWALLET_PRODUCTION="1", SECRET_KEY=A_SECRET_KEY)
    assert run.returncode != 0
    assert "EWALLET_ALLOWED_HOSTS must name" in run.stderr
    anywhere = manage(
        "check", EWALLET_PRODUCTION="1", SECRET_KEY=A_SECRET_KEY, EWALLET_ALLOWED_HOSTS="*"
    )
    assert anywhere.returncode != 0
    assert "EWALLET_ALLOWED_HOSTS must name" in anywhere.stderr


def test_production_mode_passes_djangos_deployment_checks():
    run = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        EWALLET_PRODUCTION="1",
        SECRET_KEY=A_SECRET_KEY,
        EWALLET_ALLOWED_HOSTS="ecny.example",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_without_production_mode_nothing_needs_configuring():
    """`make demo` and the tests run with no settings at all (and so are not deployable)."""
    run = manage("check")
    assert run.returncode == 0, run.stderr
    deploy = manage("check", "--deploy")
    assert "security.W004" in deploy.stderr  # no HSTS outside production mode
