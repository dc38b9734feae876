"""The fast leaf encoder produces exactly the RFC 8785 bytes of the `rfc8785` package."""

from datetime import UTC, datetime

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement.audit import leaf, log
from settlement.audit.leaf import (
    leaf_bytes,
    leaf_bytes_reference,
    transfer_entry,
    transfer_leaves_bytes,
)
from settlement.models import Asset, TransferKind, TransferState

SAFE = 2**53 - 1
ids = st.integers(min_value=1, max_value=SAFE)
amounts = st.integers(min_value=1, max_value=10**15)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
legs = st.lists(
    st.tuples(st.sampled_from(list(Asset.values)), ids, ids, amounts), min_size=1, max_size=4
)


@settings(max_examples=300)
@given(
    transfer_id=ids,
    kind=st.sampled_from(list(TransferKind.values)),
    state=st.sampled_from(list(TransferState.values)),
    created_at=moments,
    decided_at=moments,
    legs=legs,
)
def test_every_transfer_entry_encodes_as_rfc8785(
    transfer_id, kind, state, created_at, decided_at, legs
):
    entry = transfer_entry(
        transfer_id=transfer_id,
        kind=kind,
        state=state,
        created_at=created_at,
        decided_at=decided_at,
        legs=legs,
    )
    assert leaf_bytes(entry) == leaf_bytes_reference(entry)


@settings(max_examples=300)
@given(
    transfers=st.lists(
        st.tuples(
            ids,
            st.sampled_from(list(TransferKind.values)),
            moments,
            legs,
            st.sampled_from(list(TransferState.values)),
            st.none() | moments,  # a two-phase transfer's timeout
            st.none() | ids,  # the pending transfer a phase decides
            st.none() | st.uuids(),  # a linked transfer's chain
        ),
        max_size=5,
    ),
    decided_at=moments,
)
def test_leaves_encoded_together_are_the_rfc8785_bytes_of_each_entry(transfers, decided_at):
    expected = [
        leaf_bytes_reference(
            transfer_entry(
                transfer_id=transfer_id,
                kind=kind,
                state=state,
                created_at=created_at,
                decided_at=decided_at,
                legs=transfer_legs,
                timeout_at=timeout_at,
                pending=pending,
                link=link,
            )
        )
        for transfer_id, kind, created_at, transfer_legs, state, timeout_at, pending, link in (
            transfers
        )
    ]
    assert transfer_leaves_bytes(transfers, decided_at=decided_at) == expected


@given(kind=st.text(), asset=st.text())
def test_leaves_with_any_text_in_them_encode_as_rfc8785(kind, asset):
    # Quotes, backslashes, control characters: the template escapes as JCS does.
    at = datetime(2026, 11, 25, 12, 0, 0, 1, tzinfo=UTC)
    legs = [(asset, 1, 2, 300)]
    entry = transfer_entry(
        transfer_id=7, kind=kind, state="SETTLED", created_at=at, decided_at=at, legs=legs
    )
    encoded = transfer_leaves_bytes(
        [(7, kind, at, legs, "SETTLED", None, None, None)], decided_at=at
    )
    assert encoded == [leaf_bytes_reference(entry)]


@pytest.mark.parametrize("odd", [True, 1.5])
def test_a_leaf_the_template_cannot_hold_goes_to_rfc8785(odd):
    at = datetime(2026, 11, 25, tzinfo=UTC)
    legs = [("ECNY", 1, 2, odd)]
    entry = transfer_entry(
        transfer_id=7, kind="P2P", state="SETTLED", created_at=at, decided_at=at, legs=legs
    )
    encoded = transfer_leaves_bytes(
        [(7, "P2P", at, legs, "SETTLED", None, None, None)], decided_at=at
    )
    assert encoded == [leaf_bytes_reference(entry)]


def test_an_integer_beyond_json_exactness_is_refused_as_rfc8785_refuses_it():
    at = datetime(2026, 11, 25, tzinfo=UTC)
    with pytest.raises(rfc8785.IntegerDomainError):
        transfer_leaves_bytes(
            [(7, "P2P", at, [("ECNY", 1, 2, 2**53 + 1)], "SETTLED", None, None, None)],
            decided_at=at,
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-SAFE, max_value=SAFE) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127)), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.dictionaries(st.text(alphabet=st.characters(max_codepoint=127)), json_values))
def test_any_entry_with_ascii_keys_and_safe_integers_encodes_as_rfc8785(value):
    # Wider than what the ledger writes: any text in values, including control characters,
    # quotes, backslashes and characters outside the BMP.
    assert leaf_bytes(value) == leaf_bytes_reference(value)


def test_what_the_fast_path_cannot_encode_goes_to_rfc8785():
    big = {"amount": 2**53 + 1}
    try:
        expected = leaf_bytes_reference(big)
    except Exception as error:  # rfc8785 refuses integers it cannot represent exactly
        expected = type(error)
    try:
        got = leaf_bytes(big)
    except Exception as error:
        got = type(error)
    assert got == expected


def test_leaves_decided_again_keep_the_encodings_of_those_that_did_not_change(monkeypatch):
    at = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)
    ahead = [log.LeafSpec(i, "P2P", at, [("CNY", 10 + i, 20 + i, 100 * i)]) for i in range(1, 601)]
    # Decided again: one leaf gone, one a reservation now, one new, the rest as they were.
    again = [spec for spec in ahead if spec.transfer_id != 7]
    again[100] = again[100]._replace(state="PENDING", timeout_at=at)
    again.append(log.LeafSpec(999, "P2P", at, [("CNY", 1, 2, 5)]))
    encoded_ahead = log.audit_encode_ahead(ahead, decided_at=at)
    encoded_ahead.result()
    hashed, counted = leaf.transfer_leaves_hashed, []

    def counting(transfers, *, decided_at):
        counted.append(len(transfers))
        return hashed(transfers, decided_at=decided_at)

    monkeypatch.setattr(leaf, "transfer_leaves_hashed", counting)

    reused = log.audit_encode_reusing(again, decided_at=at, earlier=ahead, encoded=encoded_ahead)

    assert counted == [2]
    monkeypatch.setattr(leaf, "transfer_leaves_hashed", hashed)
    assert reused.result() == log.audit_encode_ahead(again, decided_at=at).result()
    assert log.audit_encode_reusing(ahead, decided_at=at, earlier=ahead, encoded=encoded_ahead) is (
        encoded_ahead
    )
