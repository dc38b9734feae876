"""The console's pages live in wallets/console/admin.py; importing it registers them."""

from wallets.console import admin  # noqa: F401
