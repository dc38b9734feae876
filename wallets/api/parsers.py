"""JSON in, refusing text no column can hold: NUL characters and lone surrogates."""

import io

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


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
        body = stream.read() if stream is not None else b""
        data = super().parse(io.BytesIO(body), media_type, parser_context)
        # Raw NUL is not valid JSON, so both can only arrive as \u escapes: look only then.
        if b"\\u" in body and _bad_text(data):
            raise ParseError("text may not contain NUL characters or unpaired surrogates")
        return data
