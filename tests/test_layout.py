"""The house reads one way: the domain never imports an interface, settlement never
imports the product, and migrations import no live code (README, "Layout")."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The e-CNY product's domain: what the interfaces (API, console, load runs, commands) call.
DOMAIN = [
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "wallets/models").glob("*.py")),
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "wallets/services").glob("*.py")),
    "wallets/selectors.py",
    "wallets/authority.py",
    "wallets/actors.py",
    "wallets/auth.py",
    "wallets/roles.py",
    "wallets/identity.py",
    "wallets/catalogue.py",
    "wallets/qr.py",
    "wallets/offline.py",
    "wallets/qr_image.py",
    "wallets/webhook_signing.py",
    "wallets/webhook_targets.py",
    "wallets/exceptions.py",
    "wallets/tasks.py",
]
INTERFACES = (
    "wallets.api",
    "wallets.console",
    "wallets.loadrun",
    "wallets.chaos",
    "wallets.management",
    "wallets.web",
)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def reaches(modules: set[str], packages) -> list[str]:
    return sorted(m for m in modules for p in packages if m == p or m.startswith(p + "."))


@pytest.mark.parametrize("module", DOMAIN)
def test_the_domain_imports_no_interface(module):
    assert reaches(imported_modules(ROOT / module), INTERFACES) == []


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "settlement").rglob("*.py"))
)
def test_settlement_knows_accounts_not_people(path):
    assert reaches(imported_modules(ROOT / path), ["wallets"]) == []


@pytest.mark.parametrize(
    "path",
    sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/migrations/0*.py")),
)
def test_migrations_import_no_live_code(path):
    # A field's callable default (wallets.models.new_pseudonym) is the one reference Django
    # itself writes into a migration.
    ours = reaches(imported_modules(ROOT / path), ["ewallet", "settlement", "wallets"])
    assert [m for m in ours if m != "wallets.models"] == []
