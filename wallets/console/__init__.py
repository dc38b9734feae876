"""The console: Django admin, themed with django-unfold, for central-bank and operator staff.

Admin classes here are interfaces: they scope querysets through `wallets.selectors`, parse
forms, call one service from `wallets.services`, and render. No business rule lives here.
"""
