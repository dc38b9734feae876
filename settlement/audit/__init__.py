"""The audit log: leaves (leaf.py), appending them in settlement (log.py), sealing signed
checkpoints (checkpoint.py), reading receipts and proofs (proofs.py), verification
(verify.py), and checking a receipt or an export offline (offline.py)."""
