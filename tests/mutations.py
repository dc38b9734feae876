"""Seeded mutators for fuzzing verifiers: bit flips, truncation, reordering, field edits
and type changes over bytes, text and JSON values. Pure and deterministic for one
`random.Random`, so a failure found once is found again with the same seed.

    rng = random.Random(7)
    kind, bad = mutate_json(rng, receipt)      # ("type change at ['tree_size']", {...})
"""

import copy
import random
from collections.abc import Callable

# Values of every JSON type, and the edges of each: what a forger or a broken client sends.
ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**63,
    2**64 + 1,
    -(2**63),
    0.5,
    1e308,
    "",
    "0",
    "-1",
    "true",
    "null",
    "\u2014",
    "\x00",
    "a" * 300,
    [],
    [None],
    {},
    {"": ""},
]


def flip_bit(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return b"\x01"
    at = rng.randrange(len(data) * 8)
    raw = bytearray(data)
    raw[at // 8] ^= 1 << (at % 8)
    return bytes(raw)


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One byte-level mutation: a flipped bit, a changed, dropped or added byte, a cut,
    two spans swapped, or the bytes doubled."""
    n = len(data)
    choice = rng.randrange(7)
    if choice == 0 or n == 0:
        return "bit flip", flip_bit(rng, data)
    at = rng.randrange(n)
    if choice == 1:
        return "byte changed", data[:at] + bytes([(data[at] + rng.randrange(1, 256)) % 256]) + (
            data[at + 1 :]
        )
    if choice == 2:
        return "byte dropped", data[:at] + data[at + 1 :]
    if choice == 3:
        return "byte added", data[:at] + bytes([rng.randrange(256)]) + data[at:]
    if choice == 4:
        return "truncated", data[: rng.randrange(n)]
    if choice == 5:
        cut = sorted(rng.sample(range(n + 1), 2)) if n >= 2 else [0, n]
        return "spans swapped", data[cut[1] :] + data[cut[0] : cut[1]] + data[: cut[0]]
    return "doubled", data + data


def mutate_text(rng: random.Random, text: str) -> tuple[str, str]:
    """One mutation of a string: on its UTF-8 bytes (kept only if they still decode), or on
    its lines (dropped, doubled, swapped, blanked)."""
    lines = text.split("\n")
    if rng.random() < 0.3 and len(lines) > 1:
        at = rng.randrange(len(lines))
        choice = rng.randrange(4)
        if choice == 0:
            kind, lines = "line dropped", lines[:at] + lines[at + 1 :]
        elif choice == 1:
            kind, lines = "line doubled", lines[: at + 1] + lines[at:]
        elif choice == 2:
            other = rng.randrange(len(lines))
            lines[at], lines[other] = lines[other], lines[at]
            kind = "lines swapped"
        else:
            kind, lines[at] = "line blanked", ""
        return kind, "\n".join(lines)
    for _ in range(10):
        kind, raw = mutate_bytes(rng, text.encode())
        try:
            return kind, raw.decode()
        except UnicodeDecodeError:
            continue
    return "truncated", text[: len(text) // 2]


def _paths(value, prefix=()) -> list[tuple]:
    """Every place in a JSON value: its own path and all its members', depth first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, member in value.items():
            found += _paths(member, (*prefix, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            found += _paths(member, (*prefix, index))
    return found


def _get(value, path):
    for step in path:
        value = value[step]
    return value


def _set(root, path, new):
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def mutate_json(
    rng: random.Random, value, *, text_mutators: dict[str, Callable] | None = None
) -> tuple[str, object]:
    """One mutation somewhere in a JSON value (a deep copy is changed): a member deleted,
    added or renamed, a list reordered, cut or doubled, a value of another type, a number
    nudged, a string mutated. `text_mutators` maps a top-level key to a structure-aware
    mutator of its string (e.g. decode base64, flip a bit, encode again)."""
    value = copy.deepcopy(value)
    path = rng.choice(_paths(value))
    here = _get(value, path)
    where = list(path)
    aware = text_mutators and len(path) == 1 and path[0] in text_mutators
    if aware and isinstance(here, str) and rng.random() < 0.5:
        kind, new = text_mutators[path[0]](rng, here)
        return f"{kind} in {path[0]}", _set(value, path, new)
    choice = rng.randrange(6)
    if choice == 0 and path:
        parent = _get(value, path[:-1])
        del parent[path[-1]]
        return f"deleted {where}", value
    if choice == 1 and isinstance(here, dict):
        here[rng.choice(["extra", "leaf", "tree_size", "", "__proto__"])] = rng.choice(ODD_VALUES)
        return f"member added at {where}", value
    if choice == 1 and isinstance(here, list) and here:
        reordered = here[:]
        rng.shuffle(reordered)
        op = rng.randrange(3)
        new = reordered if op == 0 else here[: rng.randrange(len(here))] if op == 1 else here * 2
        return f"list {['reordered', 'cut', 'doubled'][op]} at {where}", _set(value, path, new)
    if choice == 2 and isinstance(here, int) and not isinstance(here, bool):
        nudged = here + rng.choice([-1, 1, -here - 1, 2**32, here])
        return f"number nudged at {where}", _set(value, path, nudged)
    if choice == 3 and isinstance(here, str):
        kind, new = mutate_text(rng, here)
        return f"{kind} at {where}", _set(value, path, new)
    if choice == 4 and isinstance(here, int | str) and not isinstance(here, bool):
        # The same value spelled as another type: 5 -> "5", "5" -> 5.
        if isinstance(here, int):
            return f"int as string at {where}", _set(value, path, str(here))
        return f"string as list at {where}", _set(value, path, [here])
    return f"type change at {where}", _set(value, path, copy.deepcopy(rng.choice(ODD_VALUES)))


def mutate_json_stacked(rng: random.Random, value, **kwargs) -> tuple[str, object]:
    """One to three mutations on top of each other."""
    kinds = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        kind, value = mutate_json(rng, value, **kwargs)
        kinds.append(kind)
    return " + ".join(kinds), value
