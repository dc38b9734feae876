"""The hand-built fast paths (wallets/api/present.py) answer exactly what their serializers
would: a payment's transfer (TransferOut) and a batch's items (BatchItemOut), compared as
the JSON a client receives, for generated transfers and outcomes.

Times are generated in UTC, as the database and `timezone.now()` give them.
"""

import json
from datetime import UTC, datetime
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from ewallet.errors import ErrorCode, EwalletError
from settlement.models import (
    Account,
    Asset,
    RejectCode,
    Transfer,
    TransferKind,
    TransferLeg,
    TransferState,
)
from settlement.services import SubmitOutcome
from wallets.api import present
from wallets.api.acquiring_serializers import QrPaymentOut
from wallets.api.serializers import BatchItemOut, TransferOut


def as_json(data) -> object:
    """What a client receives: the renderer's bytes, read back."""
    return json.loads(JSONRenderer().render(data))


labels = st.one_of(
    st.from_regex(r"\Awallet:[0-9]{16}\Z"),
    st.sampled_from(["op:ICBC:vault", "op:CCB:reserve", "cb:issuance", "cb:backing"]),
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
fen = st.integers(min_value=1, max_value=10**16)


@st.composite
def transfers(draw) -> Transfer:
    """An unsaved transfer with its legs as `present.with_legs` would prefetch them."""
    transfer = Transfer(
        pk=draw(st.integers(min_value=1, max_value=2**62)),
        kind=draw(st.sampled_from(TransferKind.values)),
        state=draw(st.sampled_from(TransferState.values)),
        reject_code=draw(st.sampled_from(["", *RejectCode.values])),
        memo=draw(st.text(max_size=140)),
        created_at=draw(instants),
        decided_at=draw(st.none() | instants),
    )
    legs = [
        TransferLeg(
            seq=seq,
            asset=draw(st.sampled_from(Asset.values)),
            debit=Account(pk=seq * 2 + 1, label=draw(labels)),
            credit=Account(pk=seq * 2 + 2, label=draw(labels)),
            amount=draw(fen),
        )
        for seq in range(draw(st.integers(min_value=1, max_value=3)))
    ]
    transfer._prefetched_objects_cache = {"legs": legs}
    return transfer


@settings(max_examples=300, deadline=None)
@given(transfers())
def test_a_payments_answer_is_transfer_outs(transfer):
    legs = present.leg_views(transfer.legs.all())
    assert as_json(present.transfer(transfer, legs)) == as_json(TransferOut(transfer).data)


@settings(max_examples=100, deadline=None)
@given(transfers(), st.text(min_size=1, max_size=32), st.text(min_size=1, max_size=24))
def test_a_qr_payments_answer_is_qr_payment_outs(transfer, request_code, merchant_code):
    payment = SimpleNamespace(
        request=SimpleNamespace(code=request_code), merchant=SimpleNamespace(code=merchant_code)
    )
    legs = present.leg_views(transfer.legs.all())
    assert as_json(present.qr_payment(transfer, legs, payment)) == as_json(
        QrPaymentOut(transfer, context={"payment": payment}).data
    )


errors = st.builds(
    lambda code, message, field: EwalletError(code, message, **({"field": field} if field else {})),
    st.sampled_from(list(ErrorCode)),
    st.text(max_size=60),
    st.none() | st.sampled_from(["payer", "payee", "amount", "idempotency_key"]),
)
outcomes = st.one_of(
    st.builds(SubmitOutcome, error=errors),
    st.builds(
        SubmitOutcome,
        transfer_id=st.integers(min_value=1, max_value=2**62),
        state=st.sampled_from(TransferState.values),
        created=st.booleans(),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=999), st.text(min_size=1, max_size=200), outcomes)
def test_a_batch_items_answer_is_batch_item_outs(index, key, outcome):
    item = present.batch_item(index, key, outcome)
    assert as_json(item) == as_json(BatchItemOut(item).data)
