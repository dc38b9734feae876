"""The RFC 6962 / RFC 9162 (section 2.1) Merkle tree over audit leaves.

Standard library only; imports nothing from Django.

    leaf  = SHA-256(0x00 || leaf bytes)
    node  = SHA-256(0x01 || left || right)
    MTH({}) = SHA-256(""); MTH(D[n]) splits at k, the largest power of two strictly below n.

Storage is the caller's. The tree is kept as its *perfect* ("complete") subtrees: node
(level, index) covers leaves [index * 2**level, (index + 1) * 2**level); level 0 holds the
leaf hashes and (level, i) = node_hash((level-1, 2i), (level-1, 2i+1)). A node is written
once, when its last leaf arrives, and never changes (`appended_nodes`, `append_many`).
Every subtree of the RFC tree is a right-to-left fold of O(log n) perfect subtrees, so a
head, an inclusion proof or a consistency proof reads O(log n) nodes at any size.

A store is any `get(level, index) -> bytes`. Which nodes an operation asks for depends
only on sizes and indexes, never on hash values, so a caller may dry-run an operation with
placeholder hashes to learn the nodes it needs and then fetch them in one query.
"""

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}), the head of the empty tree

Get = Callable[[int, int], bytes]  # get(level, index) -> the stored perfect-subtree hash
Node = tuple[int, int, bytes]  # (level, index, hash)

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(NODE_PREFIX + left + right).digest()


def split(n: int) -> int:
    """k of RFC 9162 section 2.1.1: the largest power of two strictly below n (n >= 2)."""
    if n < 2:
        raise ValueError(f"no split for a tree of {n}")
    return 1 << ((n - 1).bit_length() - 1)


# --- building ----------------------------------------------------------------------------


def appended_nodes(size: int, new_leaf_hash: bytes, get: Get) -> list[Node]:
    """Every node completed by appending leaf number `size` (0-based), leaf first.

    The new leaf completes one node per trailing one-bit of `size`; each needs the stored
    left sibling, so this makes at most log2(size) + 1 `get` calls.
    """
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    level, index, value = 0, size, new_leaf_hash
    nodes = [(0, size, value)]
    while index & 1:
        value = node_hash(get(level, index - 1), value)
        level, index = level + 1, index >> 1
        nodes.append((level, index, value))
    return nodes


def append_many(size: int, leaf_hashes: Iterable[bytes], get: Get) -> list[Node]:
    """Every node completed by appending `leaf_hashes` to a tree of `size` leaves.

    Returned children before parents, in the order made. It keeps the right edge of the
    tree as a stack (newly computed nodes stay in memory); `get` is asked only for nodes
    that existed before, at most one per one-bit of `size`, each when first needed. A
    batch of b leaves costs about 2b hashes and O(log size) reads.
    """
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    sha256, prefix = _sha256, NODE_PREFIX
    # The perfect subtrees covering [0, size), largest first: stored, fetched lazily.
    edge: list[bytes | tuple[int, int]] = list(perfect_subtrees(0, size))
    made: list[Node] = []
    for leaf_index, value in enumerate(leaf_hashes, start=size):
        level, index = 0, leaf_index
        made.append((0, index, value))
        while index & 1:  # the left sibling is the top of the edge
            left = edge.pop()
            if left.__class__ is tuple:
                left = get(*left)
            value = sha256(prefix + left + value).digest()
            level, index = level + 1, index >> 1
            made.append((level, index, value))
        edge.append(value)
    return made


# --- reading -----------------------------------------------------------------------------


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The (level, index) of the perfect subtrees that make up [start, end), left first.

    [start, end) must be a subtree of the RFC tree's shape: start a multiple of the
    smallest power of two >= end - start (every [0, n) qualifies). The pieces follow the
    binary representation of end - start, largest first.
    """
    count = end - start
    if start < 0 or count < 0 or (count and start % (1 << (count - 1).bit_length())):
        raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 9162 tree")
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def subtree_hash(start: int, end: int, get: Get) -> bytes:
    """MTH(D[start:end]) for a subtree of the RFC tree's shape (see `perfect_subtrees`).

    Folds the perfect subtrees from the right: MTH = H(P1, H(P2, ... H(Pk-1, Pk))).
    One `get` per one-bit of end - start; EMPTY_ROOT for an empty range.
    """
    nodes = perfect_subtrees(start, end)
    if not nodes:
        return EMPTY_ROOT
    value = get(*nodes[-1])
    for level, index in reversed(nodes[:-1]):
        value = node_hash(get(level, index), value)
    return value


def root(n: int, get: Get) -> bytes:
    """The tree head MTH(D[0:n]): popcount(n) `get` calls."""
    return subtree_hash(0, n, get)


def inclusion_proof(index: int, n: int, get: Get) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 section 2.1.3.1, the leaf's sibling first.

    Raises ValueError unless 0 <= index < n. At most about 2 * log2(n) `get` calls: left
    siblings are perfect, and only the first right sibling taken while the range is not
    yet perfect needs a fold.
    """
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    path = []
    start, end = 0, n
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


def consistency_proof(m: int, n: int, get: Get) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1 (SUBPROOF with b = true).

    Raises ValueError unless 0 <= m <= n. Empty when m == n, and when m == 0 (RFC 9162
    defines proofs only for 0 < m < n; the empty tree is a prefix of every tree, so there
    is nothing to prove). O(log n) `get` calls.
    """
    if not 0 <= m <= n:
        raise ValueError(f"no consistency proof from {m} to {n}")
    if m in (0, n):
        return []
    proof = []
    start, end, b = 0, n, True
    while m != end - start:
        k = split(end - start)
        if m <= k:  # the old tree lies in the left subtree: prove that, record the right
            proof.append(subtree_hash(start + k, end, get))
            end = start + k
        else:  # the left subtree is in both trees: record it, prove the right one
            proof.append(subtree_hash(start, start + k, get))
            m -= k
            start += k
            b = False
    if not b:  # SUBPROOF(m, D[m], false) = [MTH(D[m])]
        proof.append(subtree_hash(start, end, get))
    proof.reverse()
    return proof


# --- verifying (hashes only; never raise) ------------------------------------------------


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _hashes(proof: object) -> list[bytes] | None:
    """The proof as a list of 32-byte hashes, or None if it is anything else."""
    if not isinstance(proof, Sequence) or isinstance(proof, (bytes, bytearray, str)):
        return None
    path = list(proof)
    return path if all(_is_hash(p) for p in path) else None


def root_from_inclusion(
    leaf_hash: bytes, index: int, n: int, proof: Sequence[bytes]
) -> bytes | None:
    """The head that `proof` leads to from `leaf_hash` (RFC 9162 section 2.1.3.2, steps
    1-4), or None if the proof cannot be one for leaf `index` of a tree of `n`."""
    path = _hashes(proof)
    if path is None or not _is_hash(leaf_hash) or not _is_size(index) or not _is_size(n):
        return None
    if index >= n:
        return None
    fn, sn, r = index, n - 1, leaf_hash
    for p in path:
        if sn == 0:
            return None  # the proof is too long
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None  # sn != 0: the proof is too short


def verify_inclusion(
    leaf_hash: bytes, index: int, n: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: is `leaf_hash` leaf `index` of the tree of `n` with head
    `root`? False (never an exception) for any malformed or wrong input."""
    computed = root_from_inclusion(leaf_hash, index, n, proof)
    return computed is not None and _is_hash(root) and computed == root


def verify_consistency(
    m: int, n: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of `m` with head `old_root` a prefix of the
    tree of `n` with head `new_root`? False (never an exception) for anything wrong.

    Cases the RFC's algorithm (0 < m < n) leaves open:
    - m == n: only the empty proof, and the heads must be equal.
    - m == 0: the empty tree is a prefix of every tree, so (like RFC 9162 section 2.1.4.1,
      which defines no proof for it, and transparency-dev/merkle) the empty proof is
      accepted; we also require old_root to be EMPTY_ROOT, the only head a tree of size 0
      can have (and new_root too when n == 0).
    """
    path = _hashes(proof)
    if path is None or not _is_size(m) or not _is_size(n) or m > n:
        return False
    if not _is_hash(old_root) or not _is_hash(new_root):
        return False
    if m == 0:
        return not path and old_root == EMPTY_ROOT and (n > 0 or new_root == EMPTY_ROOT)
    if m == n:
        return not path and old_root == new_root
    if not path:  # step 1
        return False
    if m & (m - 1) == 0:  # step 2: m is a power of two, the old head is a node itself
        path.insert(0, old_root)
    fn, sn = m - 1, n - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root  # step 7


# --- streaming ---------------------------------------------------------------------------


class Frontier:
    """The head of a growing tree with O(log n) memory: one perfect-subtree hash per
    one-bit of the size, largest first. For recomputing heads while streaming a log."""

    def __init__(self) -> None:
        self.size = 0
        self.roots: list[bytes] = []

    def append(self, leaf_hash: bytes) -> list[Node]:
        """Add the next leaf's hash; return the nodes it completes, leaf first (as
        `appended_nodes`), so a stored tree can be checked node by node while streaming."""
        value, level, index = leaf_hash, 0, self.size
        made = [(0, index, value)]
        while index & 1:
            value = node_hash(self.roots.pop(), value)
            level, index = level + 1, index >> 1
            made.append((level, index, value))
        self.roots.append(value)
        self.size += 1
        return made

    def root(self) -> bytes:
        """MTH of the leaves so far."""
        if not self.roots:
            return EMPTY_ROOT
        value = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            value = node_hash(left, value)
        return value


# --- in memory ---------------------------------------------------------------------------


class MemoryTree:
    """A dict-backed tree, for tests and for checking an exported log offline.

    `nodes` maps (level, index) to hash, exactly what a persistent store would hold.
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0
        self.extend(leaves)

    def __len__(self) -> int:
        return self.size

    def get(self, level: int, index: int) -> bytes:
        """The stored node; KeyError if it is not (yet) complete."""
        return self.nodes[(level, index)]

    def append(self, data: bytes) -> int:
        """Append one leaf's *data* (hashed here); returns its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, hash_: bytes) -> int:
        """Append one leaf hash; returns its index."""
        for level, index, value in appended_nodes(self.size, hash_, self.get):
            self.nodes[(level, index)] = value
        self.size += 1
        return self.size - 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf *data* (hashed here), as one batch."""
        self.extend_hashes([leaf_hash(data) for data in leaves])

    def extend_hashes(self, hashes: Iterable[bytes]) -> None:
        """Append leaf hashes, as one batch."""
        hashes = list(hashes)
        for level, index, value in append_many(self.size, hashes, self.get):
            self.nodes[(level, index)] = value
        self.size += len(hashes)

    def _size(self, n: int | None) -> int:
        if n is None:
            return self.size
        if not 0 <= n <= self.size:
            raise ValueError(f"the tree has {self.size} leaves, not {n}")
        return n

    def root(self, n: int | None = None) -> bytes:
        """The head at size `n` (default: now)."""
        return root(self._size(n), self.get)

    def inclusion_proof(self, index: int, n: int | None = None) -> list[bytes]:
        """PATH(index, D[n]) (default n: now)."""
        return inclusion_proof(index, self._size(n), self.get)

    def consistency_proof(self, m: int, n: int | None = None) -> list[bytes]:
        """PROOF(m, D[n]) (default n: now)."""
        return consistency_proof(m, self._size(n), self.get)
