"""Check an audit receipt with nothing but the standard library and `cryptography`:

    python -m settlement.audit.receipt verify receipt.json [--key VERIFIER_KEY]

A receipt proves that one settled transfer (its leaf bytes) is in the log whose head the
central bank signed. Pass the bank's published verifier key with --key; without it, the
key inside the receipt is used and its fingerprint printed, which proves only consistency.
Exits 0 and prints "valid", or exits 1 and says exactly what failed.
"""

import argparse
import base64
import binascii
import json
import sys

from settlement.audit import merkle
from settlement.audit.note import NoteError, open_note, parse_checkpoint, parse_verifier_key


class ReceiptInvalid(ValueError):
    pass


def verify_receipt(receipt: dict, *, trusted_key: str | None = None) -> dict:
    """Return the leaf's JSON entry if the receipt holds; raise ReceiptInvalid saying why."""
    try:
        leaf = base64.b64decode(receipt["leaf"], validate=True)
        if base64.b64encode(leaf).decode() != receipt["leaf"]:
            raise ValueError("leaf is not canonical base64")
        index, size = receipt["leaf_index"], receipt["tree_size"]
        proof = [bytes.fromhex(p) for p in receipt["inclusion_proof"]]
        if [p.hex() for p in proof] != receipt["inclusion_proof"]:
            raise ValueError("inclusion_proof must be lowercase hex")
        note, key = receipt["checkpoint"], trusted_key or receipt["verifier_key"]
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise ReceiptInvalid(f"malformed receipt: {error!r}") from error
    if not isinstance(index, int) or not isinstance(size, int):
        raise ReceiptInvalid("leaf_index and tree_size must be integers")
    try:
        verifier = parse_verifier_key(key)
        opened = open_note(note, [verifier])
        checkpoint = parse_checkpoint(opened.text)
    except NoteError as error:
        raise ReceiptInvalid(f"checkpoint: {error}") from error
    if checkpoint.size != size:
        raise ReceiptInvalid(f"tree_size {size} but the checkpoint is of size {checkpoint.size}")
    root = checkpoint.root_hash
    if not merkle.verify_inclusion(merkle.leaf_hash(leaf), index, size, proof, root):
        raise ReceiptInvalid(f"leaf {index} is not in the signed tree of size {size}")
    try:
        return json.loads(leaf)
    except ValueError as error:
        raise ReceiptInvalid("leaf is not JSON") from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m settlement.audit.receipt")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="check a receipt file")
    check.add_argument("path")
    check.add_argument("--key", help="the central bank's published verifier key")
    args = parser.parse_args(argv)
    try:
        with open(args.path, encoding="utf-8") as handle:
            receipt = json.load(handle)
        entry = verify_receipt(receipt, trusted_key=args.key)
    except (OSError, ValueError) as error:
        print(f"invalid: {error}")
        return 1
    signer = args.key or receipt["verifier_key"]
    print(
        f"valid: transfer {entry.get('transfer')} is leaf {receipt['leaf_index']} of "
        f"{receipt['tree_size']}, signed by {signer}"
    )
    if not args.key:
        print("note: checked against the key inside the receipt; pass --key to pin the bank's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
