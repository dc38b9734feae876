"""Console forms: they parse input (amounts as yuan strings, like the API) and nothing else."""

from django import forms
from unfold.widgets import (
    UnfoldAdminPasswordWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from ewallet.errors import EwalletError
from ewallet.money import format_fen, parse_yuan
from wallets.catalogue import LIMIT_PRESETS, MERCHANT_CATEGORIES, REGIONS
from wallets.models import (
    LIMIT_FIELDS,
    FreezeScope,
    HolderKind,
    IssuanceDirection,
    KycMethod,
    Operator,
    OperatorStatus,
)


def text(**kwargs) -> forms.CharField:
    return forms.CharField(widget=UnfoldAdminTextInputWidget, **kwargs)


def choice(choices, **kwargs) -> forms.ChoiceField:
    return forms.ChoiceField(choices=choices, widget=UnfoldAdminSelectWidget, **kwargs)


class YuanField(forms.CharField):
    """An amount as yuan with at most two decimals ("1000000.50"), cleaned to fen."""

    widget = UnfoldAdminTextInputWidget

    def __init__(self, *, allow_empty: bool = False, **kwargs) -> None:
        self.allow_empty = allow_empty
        kwargs.setdefault("help_text", "yuan, at most two decimals, e.g. 1000000.00")
        super().__init__(required=not allow_empty, **kwargs)

    def prepare_value(self, value):
        return format_fen(value) if isinstance(value, int) else value

    def to_python(self, value):
        value = (super().to_python(value) or "").strip().replace(",", "")
        if not value:
            return None
        try:
            return parse_yuan(value, field=self.label or "amount")
        except EwalletError as error:
            raise forms.ValidationError(error.message) from error


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=240, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}), strip=True
    )


def days_valid() -> forms.IntegerField:
    """A token's lifetime in days; empty: until revoked."""
    return forms.IntegerField(
        widget=UnfoldAdminTextInputWidget,
        min_value=1,
        max_value=365,
        required=False,
        label="Valid for (days)",
        help_text="empty: until revoked",
    )


class DeviceForm(forms.Form):
    name = text(max_length=80, label="Device", help_text="e.g. the holder's phone")
    ttl_days = days_valid()


class ConfirmForm(forms.Form):
    """A POST with no fields: confirms an action shown on a page first."""


class OperatorOnboardForm(forms.Form):
    code = text(max_length=16, help_text="short code, e.g. ICBC")
    name = text(max_length=120)
    name_zh = text(max_length=60, required=False, label="Chinese name")
    reserve_deposit = YuanField(label="Opening reserve deposit")


class IssuanceRequestForm(forms.Form):
    operator = forms.ModelChoiceField(
        queryset=Operator.objects.filter(status=OperatorStatus.ACTIVE).order_by("code"),
        widget=UnfoldAdminSelectWidget,
    )
    direction = choice(IssuanceDirection.choices, initial=IssuanceDirection.ISSUE)
    amount = YuanField(label="Amount")


class WalletClassForm(forms.Form):
    """A class's limits in yuan; empty means no limit."""

    balance_cap = YuanField(allow_empty=True, label="Balance cap", help_text="yuan; empty: none")
    single_limit = YuanField(
        allow_empty=True, label="Single payment", help_text="yuan; empty: none"
    )
    daily_limit = YuanField(allow_empty=True, label="Daily", help_text="yuan; empty: none")
    annual_limit = YuanField(allow_empty=True, label="Annual", help_text="yuan; empty: none")
    wallets_per_person = forms.IntegerField(
        widget=UnfoldAdminTextInputWidget,
        required=False,
        label="Wallets per person",
        help_text="open wallets of this class one person may hold across all operators "
        "(counted by the identity link); empty: no cap",
    )

    def limits(self) -> dict[str, int | None]:
        return {name: self.cleaned_data[name] for name in LIMIT_FIELDS}


class DisclosureRequestForm(forms.Form):
    holder = text(
        max_length=32, label="Holder (pseudonym)", help_text="the anonymous holder's id, h_…"
    )
    reason = forms.CharField(
        max_length=240,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        strip=True,
        help_text="why: the court order's or the AML case's reference",
    )


FREEZE_CHOICES = [
    (FreezeScope.FULL, "Freeze (no payments in or out)"),
    (FreezeScope.RECEIVE_ONLY, "Receive only (no payments out)"),
]


class PresetForm(forms.Form):
    preset = choice(
        [(name, preset["title"]) for name, preset in LIMIT_PRESETS.items()], label="Limits table"
    )


class FreezeOrderForm(forms.Form):
    wallet = text(max_length=16, label="Wallet number")
    scope = choice(FREEZE_CHOICES, label="Order")
    reason = forms.CharField(max_length=240, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}))


class AmountForm(forms.Form):
    amount = YuanField(label="Amount")


class HolderOnboardForm(forms.Form):
    display_name = text(max_length=120, label="Name")
    kind = choice(HolderKind.choices, initial=HolderKind.PERSON)
    kyc_method = choice(KycMethod.choices, label="KYC evidence")
    phone = text(max_length=20, required=False)
    id_number = text(max_length=24, required=False, label="Identity number")
    bank_account = text(max_length=24, required=False, label="Linked bank account")
    wallet_class = choice(
        [("", "the strongest the KYC allows"), *[(n, f"class {n}") for n in range(1, 5)]],
        required=False,
        label="Wallet class",
    )


# ---------------------------------------------------------------- merchants


class MerchantRegisterForm(forms.Form):
    name = text(max_length=120, label="Business name")
    mcc = choice(
        [(code, f"{code} {name}") for code, name in sorted(MERCHANT_CATEGORIES.items())],
        label="Category (MCC)",
    )
    region = text(
        max_length=6,
        label="Region",
        help_text="six-digit GB/T 2260 code, e.g. "
        + ", ".join(f"{code} {name}" for code, name in list(REGIONS.items())[:3]),
    )
    licence_number = text(max_length=24, label="Business licence number")
    bank_account = text(max_length=24, required=False, label="Linked bank account")
    phone = text(max_length=20, required=False)


class MerchantStaffForm(forms.Form):
    name = text(max_length=80, label="Login name", help_text="e.g. till 1, back office")
    username = text(
        max_length=150,
        required=False,
        label="Console username",
        help_text="with a password, the login also signs in to the console; "
        "leave both empty for an API token only",
    )
    password = forms.CharField(
        required=False,
        strip=False,
        widget=UnfoldAdminPasswordWidget(render_value=False),
        label="Initial password",
    )
    ttl_days = days_valid()


class PaymentRequestForm(forms.Form):
    amount = YuanField(label="Amount")
    order_reference = text(max_length=64, required=False, label="Order reference")
    memo = text(max_length=140, required=False)
    expires_in_minutes = forms.IntegerField(
        widget=UnfoldAdminTextInputWidget,
        min_value=1,
        required=False,
        label="Expires in (minutes)",
        help_text="empty: the default",
    )


class CollectionCodeForm(forms.Form):
    memo = text(max_length=140, required=False, help_text="e.g. till 2, front counter")


class RefundForm(forms.Form):
    amount = YuanField(label="Amount to refund")
    reason = forms.CharField(
        max_length=240,
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
    )


class WebhookEndpointForm(forms.Form):
    url = text(
        max_length=500,
        label="URL",
        help_text="http:// or https://, where the merchant's server takes the events",
    )
