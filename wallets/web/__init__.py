"""Plain web pages for wallet holders, outside the console: pay.py, paying a merchant's
QR code. Interfaces like the API and the console: they call the services and decide
nothing themselves."""
