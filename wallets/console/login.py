"""Console sign-in: a password, and for central-bank staff a TOTP code as well.

Whether the second factor is asked for is EWALLET_CONSOLE_TOTP (on in production mode, off
otherwise, so `make demo`, `make console` and the tests sign in with a password alone). A
staffer's authenticator is enrolled with `manage.py totp_enroll USERNAME` (django-otp's
TOTP device). The middleware turns away a central-bank session that was not verified with
a code, however it was opened.
"""

from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponseRedirect
from django.urls import reverse
from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.forms import AuthenticationForm
from unfold.widgets import BASE_INPUT_CLASSES

from wallets.roles import CENTRAL_BANK_ROLES


def totp_required(user) -> bool:
    """Central-bank staff need a code when the setting says so."""
    if not settings.EWALLET_CONSOLE_TOTP or not user.is_authenticated:
        return False
    return user.groups.filter(name__in=CENTRAL_BANK_ROLES).exists()


class StaffLoginForm(OTPAuthenticationFormMixin, AuthenticationForm):
    otp_token = forms.CharField(
        required=False,
        label="Authenticator code",
        help_text="Central-bank staff: the six digits your authenticator app shows.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "class": " ".join(BASE_INPUT_CLASSES)}
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not settings.EWALLET_CONSOLE_TOTP:
            del self.fields["otp_token"]  # nobody is asked: the page shows no code field

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and totp_required(user):
            device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
            if device is None:
                raise forms.ValidationError(
                    "No authenticator is enrolled for you yet (manage.py totp_enroll)."
                )
            # One authenticator a person: django-otp verifies the code against it alone.
            self.cleaned_data["otp_device"] = device.persistent_id
            self.clean_otp(user)
        return cleaned


class StaffTotpMiddleware:
    """A central-bank session not verified by a code is signed out, however it was opened
    (the browsable API's password sign-in, or one opened before the setting was on); in the
    console the staffer is sent to its sign-in page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if totp_required(request.user) and not request.user.is_verified():
            logout(request)
            console_login = reverse("admin:login")
            if request.path.startswith(reverse("admin:index")) and request.path != console_login:
                return HttpResponseRedirect(f"{console_login}?next={request.path}")
        return self.get_response(request)
