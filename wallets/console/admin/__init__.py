"""The console's pages, one ModelAdmin per model, by domain; importing this registers them.

Each page is an interface: it lists rows through the scoped selectors of `wallets.selectors`
and turns each button into one call of `wallets.services` with the signed-in user as its
actor. Whether a button shows asks the rules of `wallets.authority`; whether the action
happens is the service's decision.
"""

# Sign-in asks central-bank staff for their authenticator's code (wallets.console.login).
from django.contrib import admin

from wallets.console.admin import (  # noqa: F401
    audit,
    disclosures,
    escrow,
    holders,
    institutions,
    ledger,
    merchants,
    offline,
    subwallets,
    users,
    vouchers,
    webhooks,
)
from wallets.console.login import StaffLoginForm

admin.site.login_form = StaffLoginForm
admin.site.login_template = "console/login.html"
