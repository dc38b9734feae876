"""Serializer building blocks: strict input (unknown fields refused) and yuan amounts."""

from collections.abc import Mapping

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

    def to_internal_value(self, data) -> int:
        try:
            return parse_yuan(data, field=self.field_name)
        except EwalletError as error:
            raise serializers.ValidationError(
                error.message, code=ErrorCode.INVALID_AMOUNT
            ) from None

    def to_representation(self, value: int) -> str:
        return format_fen(value)


class StrictSerializer(serializers.Serializer):
    """Input that names a field we do not know is refused, not silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        str(name): [ErrorDetail("unknown field", code=ErrorCode.UNKNOWN_FIELD)]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


def parse(serializer_class, data, **context) -> dict:
    """Validate request data with an input serializer; raise its problems as a 400."""
    serializer = serializer_class(data=data, context=context)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
