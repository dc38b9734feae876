import io

from django.core.management import call_command

from settlement.audit.verify import audit_verify
from settlement.models import Transfer


def test_small_demo_runs_end_to_end_and_verifies(transactional_db):
    out = io.StringIO()
    call_command(
        "demo", people=60, merchants=10, payments=400, load_transfers=300, seed=7, stdout=out
    )
    text = out.getvalue()
    assert "Audit: OK" in text
    assert "Payments:" in text and "rejected" in text
    # The merchant's own server was told of the QR payment and the refund, signed.
    assert "told payment.settled and refund.settled, each signature checked" in text
    assert not Transfer.objects.filter(state="RECEIVED").exists()
    assert Transfer.objects.filter(state="REJECTED").exists()
    assert audit_verify().ok


def test_demo_runs_again_on_a_used_database(transactional_db):
    for seed in (1, 2):
        out = io.StringIO()
        call_command(
            "demo", people=20, merchants=4, payments=50, load_transfers=50, seed=seed, stdout=out
        )
        assert "Audit: OK" in out.getvalue()
