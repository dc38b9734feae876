"""The deployment files: docker-compose.yml cannot be run here, so it is read, and checked
against the settings and the database roles it relies on; and no secret is committed."""

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = (ROOT / "ewallet" / "settings.py").read_text()
ROLES_SQL = (ROOT / "docker" / "postgres" / "roles.sh").read_text()
APP_SERVICES = {"migrate", "audit-keygen", "web", "worker", "beat"}
KEY_VOLUME = "audit-keys"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolated(value: str) -> set[str]:
    """The variables a compose value takes from .env: ${NAME}, ${NAME:?...}, ${NAME:-...}."""
    return set(re.findall(r"\$\{([A-Z0-9_]+)", value))


def test_the_app_runs_in_production_mode_with_its_secrets_from_the_env_file():
    services = compose()["services"]
    assert services.keys() >= APP_SERVICES
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["EWALLET_PRODUCTION"] == "1", name
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), name
        assert env["EWALLET_ALLOWED_HOSTS"].startswith("${EWALLET_ALLOWED_HOSTS:?"), name
        # Every setting compose gives the app is one the settings read.
        for variable in env:
            if variable.startswith("EWALLET_") or variable in {"SECRET_KEY", "DATABASE_URL"}:
                assert f'"{variable}"' in SETTINGS, (name, variable)


def test_no_password_is_written_in_the_compose_file():
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    for name, service in compose()["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            value = str(value)
            if "PASSWORD" in variable or "SECRET" in variable:
                assert value.startswith("${") and value.endswith("}"), (name, variable)
            for user_info in re.findall(r"://([^@/]*)@", value):
                assert re.fullmatch(r"[a-z_]*:\$\{[A-Z0-9_]+:\?[^}]*\}", user_info), value
            assert interpolated(value) <= documented, (name, variable)
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_only_the_sealing_workers_and_the_key_maker_mount_the_signing_key():
    services = compose()["services"]
    mounting = {
        name
        for name, service in services.items()
        if any(str(v).split(":")[0] == KEY_VOLUME for v in service.get("volumes", []))
    }
    assert mounting == {"worker", "audit-keygen"}
    assert "audit-keys:/keys:ro" in services["worker"]["volumes"]
    for name, service in services.items():
        has_key_file = "EWALLET_AUDIT_KEY_FILE" in (service.get("environment") or {})
        assert has_key_file == (name in mounting), name


def test_migrations_run_as_the_schema_owner_and_everything_else_as_the_app_role():
    services = compose()["services"]
    for name in APP_SERVICES:
        url = services[name]["environment"]["DATABASE_URL"]
        role = re.match(r"postgres://([a-z_]+):", url).group(1)
        assert role == ("ewallet_migrate" if name == "migrate" else "ewallet_app"), name
    assert "CREATE ROLE ewallet_migrate LOGIN PASSWORD :'migrate_pw'" in ROLES_SQL
    assert "ALTER SCHEMA public OWNER TO ewallet_migrate" in ROLES_SQL
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in ROLES_SQL
    app_grants = [line for line in ROLES_SQL.splitlines() if "TO ewallet_app" in line]
    assert app_grants and not any(
        re.search(r"\b(CREATE|ALL|TRUNCATE|REFERENCES|TRIGGER)\b", g) for g in app_grants
    )
    postgres = services["postgres"]
    assert (
        "./docker/postgres/roles.sh:/docker-entrypoint-initdb.d/roles.sh:ro" in postgres["volumes"]
    )


# Private keys, cloud and chat tokens, and this system's own API tokens (ecny_ + 43).
SECRET_PATTERNS = {
    "private key": re.compile("-----BEGIN " + r"[A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "API token": re.compile(r"\becny_[A-Za-z0-9_-]{43}\b"),
}


def test_no_secret_is_in_the_repository():
    """Every file git tracks or would add (ignored ones aside: ./var holds local keys)."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    found = []
    for name in filter(None, files):
        path = ROOT / name.decode()
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found += [
            f"{name.decode()}: {kind}" for kind, p in SECRET_PATTERNS.items() if p.search(text)
        ]
    assert not found, found
