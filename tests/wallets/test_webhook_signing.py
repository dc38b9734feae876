"""The webhook signature: what we send, and what a merchant's server (with the README's
snippet) accepts. Pure: no database."""

import hashlib
import hmac
import re
import time
from pathlib import Path

from wallets import webhook_signing as signing

BODY = b'{"data":{"amount_fen":3680},"id":812,"type":"payment.settled"}'
NOW = 1_764_720_000


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    header = signing.signature_header(["whsec_a"], NOW, BODY)
    expected = hmac.new(b"whsec_a", b"1764720000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_verify_accepts_either_secret_during_a_rotation_and_nothing_else():
    header = signing.signature_header(["whsec_new", "whsec_old"], NOW, BODY)
    assert header.count("v1=") == 2
    assert signing.verify(header, BODY, "whsec_new", now=NOW)
    assert signing.verify(header, BODY, "whsec_old", now=NOW)
    assert not signing.verify(header, BODY, "whsec_other", now=NOW)
    assert not signing.verify(header, BODY + b" ", "whsec_new", now=NOW)  # body changed
    assert not signing.verify(
        header.replace(f"t={NOW}", f"t={NOW + 1}"), BODY, "whsec_new", now=NOW
    )
    assert not signing.verify(header, BODY, "whsec_new", now=NOW + 301)  # a replay, too old
    assert signing.verify(header, BODY, "whsec_new", now=NOW + 299)
    for broken in ["", "t=,v1=", f"t={NOW}", "v1=abc", "garbage"]:
        assert not signing.verify(broken, BODY, "whsec_new", now=NOW)


def _readme_verify():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    [snippet] = [
        block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify" in block
    ]
    namespace: dict = {}
    exec(snippet, namespace)
    return namespace["verify"]


def test_the_readme_snippet_verifies_what_we_sign():
    verify = _readme_verify()
    now = int(time.time())
    header = signing.signature_header(["whsec_new", "whsec_old"], now, BODY)
    assert verify(header, BODY, "whsec_new") and verify(header, BODY, "whsec_old")
    assert not verify(header, BODY + b"x", "whsec_new")
    assert not verify(header, BODY, "whsec_other")
    stale = signing.signature_header(["whsec_new"], now - 3600, BODY)
    assert not verify(stale, BODY, "whsec_new")
