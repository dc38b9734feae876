"""The RFC 6962 / RFC 9162 (section 2.1) Merkle tree over audit leaves. Imports nothing
from Django.

    leaf  = SHA-256(0x00 || leaf bytes)
    node  = SHA-256(0x01 || left || right)
    MTH({}) = SHA-256(""); MTH(D[n]) splits at k, the largest power of two below n.

Storage is the caller's: the tree is kept as its *perfect* subtrees, node (level, index)
covering leaves [index * 2**level, (index + 1) * 2**level), each written once, when its
last leaf arrives (`append_many`). Any RFC subtree is a fold of O(log n) of them, so a
head, an inclusion proof or a consistency proof costs O(log n) reads at any size.
A store is anything with `get(level, index) -> bytes`.
"""

import hashlib
from collections.abc import Callable, Iterable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Get = Callable[[int, int], bytes]
Node = tuple[int, int, bytes]  # (level, index, hash)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split(n: int) -> int:
    """k: the largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- building ----------------------------------------------------------------------------


def append_many(size: int, leaf_hashes: Iterable[bytes], get: Get) -> list[Node]:
    """The nodes that appending `leaf_hashes` to a tree of `size` leaves completes.

    Leaves are level 0. A node completes when its right child does, so each new leaf
    completes one node per trailing one-bit of its index. Returned in the order made,
    children before parents; `get` is asked only for nodes that existed before.
    """
    made: dict[tuple[int, int], bytes] = {}
    for index, this in enumerate(leaf_hashes, start=size):
        level = 0
        made[(0, index)] = this
        while index & 1:
            left = made.get((level, index - 1)) or get(level, index - 1)
            this = node_hash(left, this)
            level, index = level + 1, index >> 1
            made[(level, index)] = this
    return [(level, index, value) for (level, index), value in made.items()]


# --- reading -----------------------------------------------------------------------------


def subtree_hash(start: int, end: int, get: Get) -> bytes:
    """MTH(D[start:end]) for a subtree of the RFC tree's shape (start aligned to its size).

    Such a range is a run of perfect subtrees of decreasing size; MTH folds them from
    the right.
    """
    if end <= start:
        return EMPTY_ROOT
    perfect = []
    while start < end:
        size = 1 << ((end - start).bit_length() - 1)
        level = size.bit_length() - 1
        perfect.append(get(level, start >> level))
        start += size
    value = perfect.pop()
    while perfect:
        value = node_hash(perfect.pop(), value)
    return value


def root(size: int, get: Get) -> bytes:
    """The tree head for the first `size` leaves."""
    return subtree_hash(0, size, get)


def inclusion_proof(index: int, size: int, get: Get) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1, leaf-side sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(subtree_hash(start + k, end, get))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, get))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, get: Get) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1; empty when m is 0 or m == n."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    proof = []
    m, start, end, complete = old_size, 0, new_size, True
    while m != end - start:
        k = split(end - start)
        if m <= k:
            proof.append(subtree_hash(start + k, end, get))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, get))
            m -= k
            start += k
            complete = False
    if not complete:
        proof.append(subtree_hash(start, end, get))
    proof.reverse()
    return proof


# --- verifying (hashes only; never raise) ------------------------------------------------


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The head that `proof` leads to from `leaf`, or None if the proof is malformed.

    RFC 9162 section 2.1.3.2.
    """
    if not 0 <= index < size:
        return None
    fn, sn, value = index, size - 1, leaf
    for sibling in proof:
        if sn == 0 or len(sibling) != 32:
            return None
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            value = node_hash(value, sibling)
        fn, sn = fn >> 1, sn >> 1
    return value if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    return root_from_inclusion(leaf, index, size, proof) == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2. From an empty tree any tree is consistent (empty proof)."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof or any(len(p) != 32 for p in proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old head is a node itself
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# --- streaming ---------------------------------------------------------------------------


class Frontier:
    """The head of a growing tree with O(log n) memory: one perfect-subtree hash per
    one-bit of the size. For recomputing heads while streaming a whole log."""

    def __init__(self) -> None:
        self.size = 0
        self.roots: list[bytes] = []

    def append(self, leaf_hash: bytes) -> None:
        value, size = leaf_hash, self.size
        while size & 1:
            value = node_hash(self.roots.pop(), value)
            size >>= 1
        self.roots.append(value)
        self.size += 1

    def root(self) -> bytes:
        if not self.roots:
            return EMPTY_ROOT
        value = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            value = node_hash(left, value)
        return value


# --- in memory ---------------------------------------------------------------------------


class MemoryTree:
    """A dict-backed tree, for tests and for checking an exported log offline."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0
        self.extend(leaves)

    def get(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf *data* (hashed here)."""
        self.extend_hashes([leaf_hash(data) for data in leaves])

    def extend_hashes(self, hashes: Sequence[bytes]) -> None:
        for level, index, value in append_many(self.size, hashes, self.get):
            self.nodes[(level, index)] = value
        self.size += len(hashes)

    def root(self, size: int | None = None) -> bytes:
        return root(self.size if size is None else size, self.get)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self.size if size is None else size, self.get)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return consistency_proof(old_size, self.size if new_size is None else new_size, self.get)
