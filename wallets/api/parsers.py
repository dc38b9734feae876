"""JSON in, refusing what no honest client sends and what could hurt the server: nesting
deeper than MAX_DEPTH, an object naming a key twice, NUL characters and lone surrogates
(400, each with its code).

Every JSON endpoint reads its body here (DEFAULT_PARSER_CLASSES), so the fast payment
readers (`wallets.api.batch`) only ever see what this let through.
"""

import codecs
import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant

from ewallet.errors import ErrorCode, EwalletError

# No request of this API nests deeper than 4 (a batch item's field); well above that, and
# far below what Python's recursion limit lets json and the walks after it reach.
MAX_DEPTH = 32


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """object_pairs_hook: json keeps the last of two equal keys; we keep neither."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _DuplicateKey(twice)
    return data


def _deeper_than(value, depth: int) -> bool:
    """Whether `value` nests containers more than `depth` levels deep (iteratively)."""
    level = [value] if type(value) in (dict, list) else []
    for _ in range(depth):
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) in (dict, list)
        ]
        if not level:
            return False
    return bool(level)


def _bad_text(value) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate such as "\udb23"
            return True
        return False
    if isinstance(value, dict):
        return any(_bad_text(key) or _bad_text(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_bad_text(item) for item in value)
    return False


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        # DRF reads the body through Django's HttpRequest.body, which refuses one past
        # DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig: 413, ewallet.problems).
        body = stream.read() if stream is not None else b""
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(body, encoding)
            data = json.loads(
                text,
                object_pairs_hook=_refuse_duplicate_keys,
                parse_constant=strict_constant if api_settings.STRICT_JSON else None,
            )
        except _DuplicateKey as exc:
            twice = exc.args[0]
            raise EwalletError(
                ErrorCode.DUPLICATE_JSON_KEY, f"a JSON object names {twice!r} more than once"
            ) from None
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if _deeper_than(data, MAX_DEPTH):
            raise _too_deep()
        # Raw NUL is not valid JSON, so both can only arrive as \u escapes: look only then.
        if "\\u" in text and _bad_text(data):
            raise ParseError("text may not contain NUL characters or unpaired surrogates")
        return data


def _too_deep() -> EwalletError:
    return EwalletError(
        ErrorCode.JSON_TOO_DEEP, f"the JSON body nests deeper than {MAX_DEPTH} levels"
    )
