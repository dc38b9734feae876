"""Check an audit receipt, or a whole exported log, with nothing but the standard library
and `cryptography`:

    python -m settlement.audit.offline verify receipt.json [--key VERIFIER_KEY]
    python -m settlement.audit.offline verify-export log.jsonl [--key VERIFIER_KEY ...]

A receipt proves that one settled transfer (its leaf bytes) is in the log whose head the
central bank signed. Pass the bank's published verifier key with --key; without it, the
key inside the receipt is used and its fingerprint printed, which proves only consistency.
Exits 0 and prints "valid", or exits 1 and says exactly what failed.

It imports only merkle.py and note.py, which import nothing from Django either, so anyone
can run it on a copy of those three files (tests/settlement/test_offline.py holds it to
that). The server builds what it checks in proofs.py.
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
        if not isinstance(note, str) or not isinstance(key, str):
            raise TypeError("checkpoint and verifier_key must be strings")
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


def verify_export(lines, *, trusted_keys: list[str] | None = None) -> tuple[int, int]:
    """Recompute an `audit export`: every leaf hash, the hash chain, and every checkpoint's
    head and signature. Returns (leaves, checkpoints); raises ReceiptInvalid saying where."""
    import hashlib

    chain = bytes(32)
    frontier = merkle.Frontier()
    heads: dict[int, bytes] = {}
    keys_in_export, checkpoints, wanted = [], [], set()
    for number, line in enumerate(lines, start=1):
        record = _export_record(line, number)
        kind = record["type"]
        if kind == "key":
            keys_in_export.append(record["verifier_key"])
        elif kind == "leaf":
            if record["index"] != frontier.size:
                raise ReceiptInvalid(f"line {number}: expected leaf {frontier.size}")
            try:
                leaf = base64.b64decode(record["leaf"], validate=True)
            except (binascii.Error, ValueError) as error:
                raise ReceiptInvalid(f"line {number}: leaf is not base64") from error
            leaf_hash = merkle.leaf_hash(leaf)
            if leaf_hash.hex() != record["leaf_hash"]:
                raise ReceiptInvalid(f"leaf {record['index']}: hash is not of its bytes")
            chain = hashlib.sha256(b"\x02" + chain + leaf_hash).digest()
            if chain.hex() != record["chain_hash"]:
                raise ReceiptInvalid(f"leaf {record['index']}: chain hash does not follow")
            frontier.append(leaf_hash)
            if frontier.size in wanted:
                heads[frontier.size] = frontier.root()
        else:  # a checkpoint: they come before the leaves, so their sizes are known
            checkpoints.append(record)
            wanted.add(record["size"])
    try:
        verifiers = [parse_verifier_key(k) for k in (trusted_keys or keys_in_export)]
    except NoteError as error:
        raise ReceiptInvalid(f"key: {error}") from error
    for record in checkpoints:
        try:
            signed = parse_checkpoint(open_note(record["note"], verifiers).text)
        except NoteError as error:
            raise ReceiptInvalid(f"checkpoint {record['height']}: {error}") from error
        if heads.get(signed.size, merkle.EMPTY_ROOT if signed.size == 0 else None) != (
            signed.root_hash
        ):
            raise ReceiptInvalid(f"checkpoint {record['height']}: head is not of the leaves")
    return frontier.size, len(checkpoints)


# The members each record type must have, and their types (bool is no integer here).
_EXPORT_FIELDS = {
    "key": {"verifier_key": str},
    "checkpoint": {"height": int, "size": int, "note": str},
    "leaf": {"index": int, "leaf": str, "leaf_hash": str, "chain_hash": str},
}


def _export_record(line, number: int) -> dict:
    """One line of an export, its type and the members it needs checked; ReceiptInvalid
    naming the line for anything else, so a damaged file is refused, never a crash."""
    try:
        record = json.loads(line)
    except (TypeError, ValueError) as error:
        raise ReceiptInvalid(f"line {number}: not JSON") from error
    kind = record.get("type") if isinstance(record, dict) else None
    if not isinstance(kind, str) or kind not in _EXPORT_FIELDS:
        raise ReceiptInvalid(f"line {number}: unknown record type {kind!r}")
    for name, wanted in _EXPORT_FIELDS[kind].items():
        value = record.get(name)
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise ReceiptInvalid(f"line {number}: {kind} record needs {name} ({wanted.__name__})")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m settlement.audit.offline")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="check a receipt file")
    check.add_argument("path")
    check.add_argument("--key", help="the central bank's published verifier key")
    whole = sub.add_parser("verify-export", help="recheck a whole `audit export` file")
    whole.add_argument("path")
    whole.add_argument("--key", action="append", help="a trusted verifier key (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "verify-export":
        try:
            with open(args.path, encoding="utf-8") as handle:
                leaves, checkpoints = verify_export(handle, trusted_keys=args.key)
        except (OSError, ValueError, KeyError) as error:
            print(f"invalid: {error}")
            return 1
        print(f"valid: {leaves} leaves, chain and {checkpoints} signed checkpoints recomputed")
        return 0
    try:
        with open(args.path, encoding="utf-8") as handle:
            receipt = json.load(handle)
        entry = verify_receipt(receipt, trusted_key=args.key)
    except (OSError, ValueError) as error:
        print(f"invalid: {error}")
        return 1
    signer = args.key or receipt["verifier_key"]
    what = (
        f"event {entry.get('event')} ({entry.get('kind')})"
        if entry.get("type") == "event"
        else f"transfer {entry.get('transfer')}"
    )
    print(
        f"valid: {what} is leaf {receipt['leaf_index']} of "
        f"{receipt['tree_size']}, signed by {signer}"
    )
    if not args.key:
        print("note: checked against the key inside the receipt; pass --key to pin the bank's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
