"""python manage.py totp_enroll USERNAME: give a console user a TOTP authenticator."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = (
        "Enrol (or re-enrol) USERNAME's authenticator for the console's second factor and "
        "print its otpauth:// URL, to type or scan into the app (shown once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        # One authenticator a person: re-enrolling replaces a lost phone's.
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        self.stdout.write(device.config_url)
