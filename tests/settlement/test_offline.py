"""The offline verifier stays runnable by anyone: standard library and `cryptography` only."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = "settlement.audit.offline"


def module_file(name: str) -> Path:
    return ROOT.joinpath(*name.split(".")).with_suffix(".py")


def imported_names(name: str) -> set[str]:
    """Every module `name` imports at any depth of its code, as written."""
    tree = ast.parse(module_file(name).read_text(), filename=str(module_file(name)))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import"
            found.add(node.module)
            # `from settlement.audit import merkle` imports the module settlement.audit.merkle
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_offline_verifier_imports_only_the_standard_library_and_cryptography():
    allowed = set(sys.stdlib_module_names) | {"cryptography"}
    seen, pending, foreign = set(), [OFFLINE], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        for imported in imported_names(name):
            top = imported.split(".")[0]
            if top == "settlement":
                if module_file(imported).exists() and imported not in seen:
                    pending.append(imported)
            elif top not in allowed:
                foreign.add(f"{name} imports {imported}")
    assert foreign == set()
    assert {"settlement.audit.merkle", "settlement.audit.note"} <= seen


def test_the_offline_verifier_loads_no_django_module_when_run():
    # -I: no PYTHONPATH, no DJANGO_SETTINGS_MODULE from the environment, no current directory.
    probe = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import {OFFLINE}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
