"""What settlement tells the rest of the product, without knowing who listens."""

from django.dispatch import Signal

# Sent inside the batch's transaction, after its states are written, with
# `decisions`: a list of `Decision`s and `decided_at`. A receiver writes in that same
# transaction (an outbox), so what it records commits or rolls back with the decisions.
# A receiver that raises rolls the batch back: keep receivers small and set-based.
transfers_decided = Signal()
