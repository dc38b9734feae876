"""The audit log: leaves (leaf.py), appending them in settlement (log.py), verification."""
