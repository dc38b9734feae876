"""Serializer building blocks: strict input (unknown fields refused), yuan amounts, and
the output fields that render models as the API shows them."""

import base64
from collections.abc import Mapping
from datetime import UTC

from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from ewallet.errors import ErrorCode, EwalletError
from ewallet.money import format_fen, parse_yuan

AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,13})(\.[0-9]{1,2})?$"


@extend_schema_field(
    {
        "type": "string",
        "pattern": AMOUNT_PATTERN,
        "example": "12.34",
        "description": "Yuan as a string with at most two decimals; more than zero.",
    }
)
class AmountField(serializers.Field):
    """Yuan in, fen inside: "12.34" <-> 1234. Numbers, signs, exponents and zero refused."""

    def validate_empty_values(self, data):
        if data is None:  # null is a bad amount like any other, not a missing field
            raise serializers.ValidationError(
                f'{self.field_name} must be a string of yuan such as "12.34", not null',
                code=ErrorCode.INVALID_AMOUNT,
            )
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> int:
        try:
            return parse_yuan(data, field=self.field_name)
        except EwalletError as error:
            raise serializers.ValidationError(
                error.message, code=ErrorCode.INVALID_AMOUNT
            ) from None

    def to_representation(self, value: int) -> str:
        return format_fen(value)


# ---------------------------------------------------------------- output


@extend_schema_field(OpenApiTypes.STR)
class Yuan(serializers.Field):
    """An amount held in fen (an integer) shown as a string of yuan: 1234 -> "12.34"."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: int) -> str:
        return format_fen(value)


class Instant(serializers.DateTimeField):
    """A moment, in UTC ("2025-01-01T08:00:00Z")."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, default_timezone=UTC, **kwargs)


@extend_schema_field(OpenApiTypes.STR)
class Base64(serializers.Field):
    """Bytes (a hash) as base64."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value) -> str:
        return base64.b64encode(bytes(value)).decode()


@extend_schema_field(OpenApiTypes.STR)
class AccountRef(serializers.Field):
    """A ledger account as clients know it, from its label: a wallet's number, or the label."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, label: str) -> str:
        return account_ref(label)


def account_ref(label: str) -> str:
    return label.removeprefix("wallet:")


class BlankAsNull(serializers.ChoiceField):
    """A code stored as "" for none, shown as null."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value):
        return value or None


class StrictSerializer(serializers.Serializer):
    """JSON input taken at its word: unknown fields are refused, not ignored, and a value of
    the wrong JSON type (1234 for a string, "2" for an integer) is refused, not coerced."""

    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, Mapping):
            for name in sorted(set(data) - set(self.fields)):
                errors[str(name)] = [ErrorDetail("unknown field", code=ErrorCode.UNKNOWN_FIELD)]
            for name, field in self.fields.items():
                if name in data and (problem := _wrong_type(field, data[name])):
                    errors[name] = [ErrorDetail(problem, code=ErrorCode.INVALID_INPUT)]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if not isinstance(error.detail, dict):
                raise
            errors = {**error.detail, **errors}
        if errors:
            raise serializers.ValidationError(errors)
        return value


def _wrong_type(field: serializers.Field, value) -> str | None:
    if value is None or field.read_only:
        return None
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return f"must be a string, not {_json_type(value)}"
    if isinstance(field, serializers.IntegerField) and (
        isinstance(value, bool) or not isinstance(value, int)
    ):
        return f"must be an integer, not {_json_type(value)}"
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return f"must be true or false, not {_json_type(value)}"
    return None


def _json_type(value) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    return names.get(type(value), "object")


def parse(serializer_class, data, **context) -> dict:
    """Validate request data with an input serializer; raise its problems as a 400."""
    if isinstance(data, QueryDict):
        # Query parameters as given: "?state=" is an empty state (refused), not "no filter".
        data = data.dict()
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
