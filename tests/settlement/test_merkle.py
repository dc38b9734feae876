"""settlement.audit.merkle against RFC 9162 section 2.1, written out naively here, and
against the test vectors published with the reference implementations. No database."""

import hashlib
import itertools
import random
import time

import pytest

from settlement.audit import merkle
from settlement.audit.merkle import MemoryTree

# --- published vectors -------------------------------------------------------------------
# The eight reference leaves, the heads of sizes 0..8 and the hashes of every perfect
# subtree of the 8-leaf tree: transparency-dev/merkle testonly/constants.go (LeafInputs,
# RootHashes, EmptyRootHash, NodeHashes); the leaves and heads are also kInputs,
# kSHA256EmptyTreeHash and kSHA256Roots in google/certificate-transparency
# cpp/merkletree/merkle_tree_test.cc.

H = bytes.fromhex

CT_LEAVES = [
    H(""),
    H("00"),
    H("10"),
    H("2021"),
    H("3031"),
    H("40414243"),
    H("5051525354555657"),
    H("606162636465666768696a6b6c6d6e6f"),
]
CT_ROOTS = [  # index = tree size
    H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    H("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    H("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    H("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    H("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
CT_NODES = [  # [level][index]
    [
        H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        H("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        H("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        H("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        H("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# Audit paths and consistency proofs over those leaves: kSHA256Paths / kSHA256Proofs in
# google/certificate-transparency cpp/merkletree/merkle_tree_test.cc, and inclusionProofs /
# consistencyProofs in transparency-dev/merkle proof/verify_test.go (which adds 6 -> 7).
# The sources number leaves from 1; these indexes are 0-based (leaf 1 there = index 0).
CT_INCLUSION = [  # (index, size, path)
    (0, 1, []),
    (
        0,
        8,
        [
            H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CT_CONSISTENCY = [  # (m, n, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# The hasher's own vectors: transparency-dev/merkle rfc6962/rfc6962_test.go.
RFC6962_LEAF_L123456 = H("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
RFC6962_NODE_N123_N456 = H("aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")
SOME_HASH = H("abacaba000000000000000000000000000000000000000000060061e00123456")  # (same file)


# --- RFC 9162 section 2.1, written out naively -------------------------------------------


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """MTH(D[n]), section 2.1.1."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = largest_power_of_two_below(n)
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[tuple[str, bytes]]:
    """PATH(m, D[n]), section 2.1.3.1, each element tagged with the side it joins on."""
    n = len(d)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*path(m, d[:k]), ("right", mth(d[k:]))]
    return [*path(m - k, d[k:]), ("left", mth(d[:k]))]


def subproof(m: int, d: list[bytes], b: bool) -> list[tuple[str, bytes | None]]:
    """SUBPROOF(m, D[n], b), section 2.1.4.1, tagged; the old head the verifier supplies
    itself (b still true at m == n) is kept as ("old", None)."""
    n = len(d)
    if m == n:
        return [("old", None)] if b else [("subtree", mth(d))]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*subproof(m, d[:k], b), ("right", mth(d[k:]))]
    return [*subproof(m - k, d[k:], False), ("left", mth(d[:k]))]


def proof(m: int, d: list[bytes]) -> list[tuple[str, bytes | None]]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), for 0 < m < n."""
    return subproof(m, d, True)


def path_sides(m: int, n: int) -> list[str]:
    """The sides of PATH(m, D[n]) from the sizes alone (the same recursion, no hashing)."""
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    return [*path_sides(m, k), "right"] if m < k else [*path_sides(m - k, n - k), "left"]


def proof_sides(m: int, n: int, b: bool = True) -> list[str]:
    """The sides of SUBPROOF(m, D[n], b) from the sizes alone."""
    if m == n:
        return ["old"] if b else ["subtree"]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*proof_sides(m, k, b), "right"]
    return [*proof_sides(m - k, n - k, False), "left"]


def hashes(tagged) -> list[bytes]:
    return [value for _, value in tagged if value is not None]


def shape(tagged) -> list[str]:
    return [side for side, _ in tagged]


def data(i: int) -> bytes:
    return i.to_bytes(4, "big")


LEAVES = [data(i) for i in range(1024)]


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    return MemoryTree(LEAVES)


def getter(store: dict[tuple[int, int], bytes]):
    """A `get(level, index)` over a dict store."""
    return lambda level, index: store[(level, index)]


class Counting:
    """A `get` that counts its calls."""

    def __init__(self, get):
        self.get, self.calls = get, 0

    def __call__(self, level: int, index: int) -> bytes:
        self.calls += 1
        return self.get(level, index)


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8 % len(value)] ^= 1 << bit % 8
    return bytes(changed)


# --- hashing and heads -------------------------------------------------------------------


def test_the_hashes_match_the_published_hasher_vectors():
    assert merkle.EMPTY_ROOT == CT_ROOTS[0] == hashlib.sha256(b"").digest()
    assert merkle.leaf_hash(b"") == CT_ROOTS[1]  # the empty leaf is not the empty tree
    assert merkle.leaf_hash(b"L123456") == RFC6962_LEAF_L123456
    assert merkle.node_hash(b"N123", b"N456") == RFC6962_NODE_N123_N456


def test_heads_match_the_published_vectors_however_the_tree_is_built():
    at_once = MemoryTree(CT_LEAVES)
    assert [at_once.root(n) for n in range(9)] == CT_ROOTS
    one_by_one, frontier = MemoryTree(), merkle.Frontier()
    assert one_by_one.root() == frontier.root() == CT_ROOTS[0]
    for n, leaf in enumerate(CT_LEAVES, start=1):
        one_by_one.append(leaf)
        frontier.append(merkle.leaf_hash(leaf))
        assert one_by_one.root() == frontier.root() == CT_ROOTS[n]
    in_two = MemoryTree(CT_LEAVES[:3])
    assert in_two.root() == CT_ROOTS[3]
    in_two.extend(CT_LEAVES[3:])
    assert in_two.root() == CT_ROOTS[8]


def test_the_stored_nodes_are_the_published_perfect_subtrees():
    expected = {
        (level, index): value
        for level, row in enumerate(CT_NODES)
        for index, value in enumerate(row)
    }
    assert MemoryTree(CT_LEAVES).nodes == expected


def test_heads_for_every_size_to_1024_match_the_recursive_definition(tree):
    for n in range(1025):
        assert tree.root(n) == mth(LEAVES[:n]), n


# --- published proofs --------------------------------------------------------------------


@pytest.mark.parametrize(("index", "n", "expected"), CT_INCLUSION)
def test_published_inclusion_proofs_are_produced_and_verify(index, n, expected):
    tree = MemoryTree(CT_LEAVES)
    assert tree.inclusion_proof(index, n) == expected
    leaf, root = merkle.leaf_hash(CT_LEAVES[index]), CT_ROOTS[n]
    assert merkle.root_from_inclusion(leaf, index, n, expected) == root
    assert merkle.verify_inclusion(leaf, index, n, expected, root)
    # The corruptions the reference verifiers are tested against, all refused.
    bad = [
        (leaf, index - 1, n, expected, root),
        (leaf, index + 1, n, expected, root),
        (leaf, index ^ 2, n, expected, root),
        (leaf, index, n * 2, expected, root),
        (leaf, index, n // 2, expected, root),
        (merkle.leaf_hash(b"WrongLeaf"), index, n, expected, root),
        (b"WrongLeaf", index, n, expected, root),
        (leaf, index, n, expected, merkle.EMPTY_ROOT),
        (leaf, index, n, expected, SOME_HASH),
        (leaf, index, n, [*expected, b""], root),
        (leaf, index, n, [*expected, root], root),
        (leaf, index, n, [b"", *expected], root),
        (leaf, index, n, [root, *expected], root),
    ]
    for j in range(len(expected)):
        bad.append(
            (leaf, index, n, [*expected[:j], flip(expected[j], 3), *expected[j + 1 :]], root)
        )
    if expected:
        bad.append((leaf, index, n, expected[:-1], root))
    if len(expected) > 1:
        bad.append((leaf, index, n, [expected[0], SOME_HASH, *expected[1:]], root))
    for args in bad:
        assert not merkle.verify_inclusion(*args), args


@pytest.mark.parametrize(("m", "n", "expected"), CT_CONSISTENCY)
def test_published_consistency_proofs_are_produced_and_verify(m, n, expected):
    tree = MemoryTree(CT_LEAVES)
    assert tree.consistency_proof(m, n) == expected
    old, new = CT_ROOTS[m], CT_ROOTS[n]
    assert merkle.verify_consistency(m, n, old, new, expected)
    if not expected:
        return
    bad = [
        (m - 1, n, old, new, expected),
        (m + 1, n, old, new, expected),
        (m ^ 2, n, old, new, expected),
        (m, n * 2, old, new, expected),
        (m, n // 2, old, new, expected),
        (m, n, b"WrongRoot", new, expected),
        (m, n, old, b"WrongRoot", expected),
        (m, n, SOME_HASH, new, expected),
        (m, n, old, SOME_HASH, expected),
        (m, n, new, old, expected),
        (m, n, old, new, []),
        (m, n, old, new, [*expected, b""]),
        (m, n, old, new, [*expected, old]),
        (m, n, old, new, [*expected, new]),
        (m, n, old, new, [b"", *expected]),
        (m, n, old, new, [old, *expected]),
        (m, n, old, new, [new, *expected]),
        (m, n, old, new, [expected[0], *expected]),
        (m, n, old, new, expected[:-1]),
    ]
    for j in range(len(expected)):
        bad.append((m, n, old, new, [*expected[:j], flip(expected[j], 4), *expected[j + 1 :]]))
    for args in bad:
        assert not merkle.verify_consistency(*args), args


# --- every proof of every small tree -----------------------------------------------------


def test_proofs_to_64_are_exactly_the_rfc_path_and_proof(tree):
    for n in range(1, 65):
        d = LEAVES[:n]
        for i in range(n):
            tagged = path(i, d)
            assert tree.inclusion_proof(i, n) == hashes(tagged), (i, n)
            assert shape(tagged) == path_sides(i, n)
        for m in range(1, n):
            tagged = proof(m, d)
            assert tree.consistency_proof(m, n) == hashes(tagged), (m, n)
            assert shape(tagged) == proof_sides(m, n)
        assert tree.consistency_proof(0, n) == tree.consistency_proof(n, n) == []


def test_every_inclusion_proof_to_64_verifies_and_every_corruption_is_refused(tree):
    for n in range(1, 65):
        root = tree.root(n)
        for i in range(n):
            leaf = merkle.leaf_hash(data(i))
            good = tree.inclusion_proof(i, n)
            assert merkle.verify_inclusion(leaf, i, n, good, root), (i, n)
            assert not merkle.verify_inclusion(leaf, i, n, good, SOME_HASH)
            assert not merkle.verify_inclusion(merkle.leaf_hash(data(i + 1)), i, n, good, root)
            # Any other index of the same tree.
            for j in range(n):
                if j != i:
                    assert not merkle.verify_inclusion(leaf, j, n, good, root), (i, j, n)
            assert not merkle.verify_inclusion(leaf, n, n, good, root)  # index >= size
            assert not merkle.verify_inclusion(leaf, n + i, n, good, root)
            # One bit flipped in any sibling.
            for j in range(len(good)):
                bad = [*good[:j], flip(good[j], 8 * j + i), *good[j + 1 :]]
                assert not merkle.verify_inclusion(leaf, i, n, bad, root), (i, n, j)
            # One element too many (anywhere) or too few.
            for extra in (SOME_HASH, root, leaf):
                for at in range(len(good) + 1):
                    longer = [*good[:at], extra, *good[at:]]
                    assert not merkle.verify_inclusion(leaf, i, n, longer, root), (i, n, at)
            for at in range(len(good)):
                shorter = good[:at] + good[at + 1 :]
                assert not merkle.verify_inclusion(leaf, i, n, shorter, root), (i, n, at)


def test_every_bit_of_every_sibling_matters():
    tree = MemoryTree(LEAVES[:13])
    for i in range(13):
        leaf, good, root = merkle.leaf_hash(data(i)), tree.inclusion_proof(i), tree.root()
        for j in range(len(good)):
            for bit in range(256):
                bad = [*good[:j], flip(good[j], bit), *good[j + 1 :]]
                assert not merkle.verify_inclusion(leaf, i, 13, bad, root)


def test_a_wrong_size_is_refused_unless_its_path_has_the_very_same_shape(tree):
    # The verifier sees only hashes: a size whose path joins the same number of siblings
    # on the same sides (0 in 3 and 0 in 4, say) folds them into the same head. What binds
    # a head to its size is the signed checkpoint; here every other size is refused.
    same_shape = 0
    for n in range(1, 33):
        root = tree.root(n)
        for i in range(n):
            leaf, good = merkle.leaf_hash(data(i)), tree.inclusion_proof(i, n)
            for other in range(1, 65):
                if other == n:
                    continue
                alike = i < other and path_sides(i, other) == path_sides(i, n)
                same_shape += alike
                assert merkle.verify_inclusion(leaf, i, other, good, root) == alike, (i, n, other)
    assert same_shape  # the caveat above is real, and nothing beyond it is accepted
    assert not merkle.verify_inclusion(merkle.leaf_hash(data(0)), 0, 5, [], tree.root(1))


def test_every_consistency_proof_to_64_verifies_and_every_corruption_is_refused(tree):
    for n in range(1, 65):
        new = tree.root(n)
        for m in range(0, n + 1):
            old = tree.root(m)
            good = tree.consistency_proof(m, n)
            assert merkle.verify_consistency(m, n, old, new, good), (m, n)
            if not 0 < m < n:
                continue
            assert not merkle.verify_consistency(m, n, new, new, good)
            assert not merkle.verify_consistency(m, n, old, old, good)
            assert not merkle.verify_consistency(m, n, new, old, good)
            assert not merkle.verify_consistency(m, n, old, new, [])
            assert not merkle.verify_consistency(n, m, new, old, good)  # m > n
            for j in range(len(good)):
                bad = [*good[:j], flip(good[j], 8 * j + m), *good[j + 1 :]]
                assert not merkle.verify_consistency(m, n, old, new, bad), (m, n, j)
            for extra in (SOME_HASH, old, new):
                for at in range(len(good) + 1):
                    longer = [*good[:at], extra, *good[at:]]
                    assert not merkle.verify_consistency(m, n, old, new, longer), (m, n, at)
            for at in range(len(good)):
                shorter = good[:at] + good[at + 1 :]
                assert not merkle.verify_consistency(m, n, old, new, shorter), (m, n, at)


def test_wrong_sizes_are_refused_unless_the_proof_has_the_very_same_shape(tree):
    # As for inclusion: only (m', n') whose PROOF has the same shape can fold the same.
    same_shape = 0
    for n in range(2, 17):
        new = tree.root(n)
        for m in range(1, n):
            old, good = tree.root(m), tree.consistency_proof(m, n)
            for other_n in range(1, 33):
                for other_m in range(1, other_n):
                    if (other_m, other_n) == (m, n):
                        continue
                    alike = proof_sides(other_m, other_n) == proof_sides(m, n)
                    same_shape += alike
                    got = merkle.verify_consistency(other_m, other_n, old, new, good)
                    assert got == alike, (m, n, other_m, other_n)
    assert same_shape


def test_the_edge_cases_of_consistency():
    tree = MemoryTree(LEAVES[:9])
    empty, some = merkle.EMPTY_ROOT, tree.root(5)
    # m == n: the empty proof, and the same head.
    assert merkle.verify_consistency(5, 5, some, some, [])
    assert not merkle.verify_consistency(5, 5, some, tree.root(4), [])
    assert not merkle.verify_consistency(5, 5, some, some, [some])
    # m == 0 (not defined by RFC 9162): the empty tree is a prefix of every tree, so the
    # empty proof is accepted; its head must be the empty head.
    assert merkle.verify_consistency(0, 0, empty, empty, [])
    assert merkle.verify_consistency(0, 9, empty, tree.root(9), [])
    assert not merkle.verify_consistency(0, 9, empty, tree.root(9), [empty])
    assert not merkle.verify_consistency(0, 9, some, tree.root(9), [])
    assert not merkle.verify_consistency(0, 0, empty, some, [])
    # m > n, and 0 < m < n with an empty proof.
    assert not merkle.verify_consistency(9, 5, tree.root(9), some, [])
    assert not merkle.verify_consistency(1, 2, tree.root(1), tree.root(2), [])


ROOT_4 = MemoryTree(LEAVES[:4]).root()


@pytest.mark.parametrize(
    "args",
    [
        (-1, 4, ROOT_4, ROOT_4, []),
        (1, -4, ROOT_4, ROOT_4, []),
        (True, 4, ROOT_4, ROOT_4, []),
        (None, 4, ROOT_4, ROOT_4, []),
        (1.0, 4, ROOT_4, ROOT_4, []),
        (1, "4", ROOT_4, ROOT_4, []),
        (1, 4, ROOT_4, ROOT_4, None),
        (1, 4, ROOT_4, ROOT_4, 7),
        (1, 4, ROOT_4, ROOT_4, b"\x00" * 32),
        (1, 4, ROOT_4, ROOT_4, "ab" * 32),
        (1, 4, ROOT_4, ROOT_4, [None]),
        (1, 4, ROOT_4, ROOT_4, ["ab" * 32]),
        (1, 4, ROOT_4, ROOT_4, [b"\x00" * 31]),
        (1, 4, ROOT_4, ROOT_4, [bytearray(32)]),
        (1, 4, ROOT_4, ROOT_4, [ROOT_4] * 100),
        (1, 4, None, ROOT_4, []),
        (1, 4, ROOT_4, b"", []),
        (1, 4, ROOT_4.hex(), ROOT_4, []),
        (0, 0, b"", b"", []),
        (2**70, 2**71, ROOT_4, ROOT_4, [ROOT_4]),
    ],
)
def test_verifiers_return_false_and_never_raise_on_malformed_input(args):
    m, n, first, second, proof_ = args
    assert merkle.verify_consistency(m, n, first, second, proof_) is False
    assert merkle.verify_inclusion(second, m, n, proof_, first) is False
    assert merkle.root_from_inclusion(second, m, n, proof_) is None


def test_producers_refuse_impossible_requests(tree):
    with pytest.raises(ValueError):
        merkle.inclusion_proof(4, 4, tree.get)
    with pytest.raises(ValueError):
        merkle.inclusion_proof(-1, 4, tree.get)
    with pytest.raises(ValueError):
        merkle.consistency_proof(5, 4, tree.get)
    with pytest.raises(ValueError):
        merkle.subtree_hash(2, 5, tree.get)  # not a node of any RFC 9162 tree
    with pytest.raises(ValueError):
        tree.root(2000)
    assert merkle.subtree_hash(4, 7, tree.get) == mth(LEAVES[4:7])
    assert merkle.perfect_subtrees(0, 13) == [(3, 0), (2, 2), (0, 12)]


# --- appending ---------------------------------------------------------------------------


def test_appended_nodes_are_the_leaf_and_every_node_it_completes():
    tree = MemoryTree(LEAVES[:7])
    made = merkle.appended_nodes(7, merkle.leaf_hash(data(7)), tree.get)
    assert [(level, index) for level, index, _ in made] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert made[-1][2] == mth(LEAVES[:8])
    assert merkle.appended_nodes(8, b"h" * 32, tree.get) == [(0, 8, b"h" * 32)]


def test_append_many_stores_the_same_nodes_as_one_at_a_time():
    hashes = [merkle.leaf_hash(data(i)) for i in range(1000)]
    one_by_one: dict[tuple[int, int], bytes] = {}
    for size, value in enumerate(hashes):
        for level, index, node in merkle.appended_nodes(size, value, getter(one_by_one)):
            one_by_one[(level, index)] = node
    rng = random.Random(6962)
    for attempt in range(20):
        cuts = sorted({0, 1000, *(rng.randrange(1001) for _ in range(attempt))})
        batched: dict[tuple[int, int], bytes] = {}
        for size, end in itertools.pairwise(cuts):
            seen: list[tuple[int, int]] = []

            def get(level, index, seen=seen, batched=batched):
                seen.append((level, index))
                return batched[(level, index)]

            for level, index, node in merkle.append_many(size, hashes[size:end], get):
                assert (level, index) not in batched  # each node is written once
                batched[(level, index)] = node
            # `get` is asked only for nodes that existed before, at most one per one-bit.
            assert all((index + 1) << level <= size for level, index in seen)
            assert len(seen) <= bin(size).count("1")
        assert batched == one_by_one
    assert len(one_by_one) == 2 * 1000 - bin(1000).count("1")  # every perfect subtree once
    assert MemoryTree(LEAVES[:1000]).nodes == one_by_one


def test_memory_tree_append_extend_and_frontier_agree():
    appended, extended, frontier = MemoryTree(), MemoryTree(), merkle.Frontier()
    for i in range(300):
        assert appended.append(data(i)) == i
        frontier.append(merkle.leaf_hash(data(i)))
        assert appended.root() == frontier.root()
    extended.extend(LEAVES[:100])
    extended.extend_hashes(merkle.leaf_hash(x) for x in LEAVES[100:300])
    assert appended.nodes == extended.nodes and len(extended) == 300
    assert extended.root() == mth(LEAVES[:300])


# --- a million leaves --------------------------------------------------------------------

MILLION = 1_000_000


@pytest.fixture(scope="module")
def million() -> dict[tuple[int, int], bytes]:
    store: dict[tuple[int, int], bytes] = {}
    batch = 100_000
    for start in range(0, MILLION, batch):
        leaves = [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(start, start + batch)]
        for level, index, value in merkle.append_many(start, leaves, getter(store)):
            store[(level, index)] = value
    return store


def test_a_million_leaves_need_only_logarithmic_reads(million):
    n, log_n = MILLION, MILLION.bit_length()  # log2(1,000,000) < 20
    get = Counting(getter(million))
    started = time.perf_counter()
    root = merkle.root(n, get)
    assert get.calls == bin(n).count("1") <= log_n
    rng = random.Random(9162)
    edges = [0, 1, 2, 2**19 - 1, 2**19, 2**19 + 1, n // 2, n - 2, n - 1]
    worst_inclusion = worst_consistency = 0
    for index in edges + [rng.randrange(n) for _ in range(200)]:
        get.calls = 0
        path_ = merkle.inclusion_proof(index, n, get)
        worst_inclusion = max(worst_inclusion, get.calls)
        assert merkle.verify_inclusion(million[(0, index)], index, n, path_, root)
    for m in [*edges[1:], n] + [rng.randrange(1, n) for _ in range(200)]:
        get.calls = 0
        proof_ = merkle.consistency_proof(m, n, get)
        worst_consistency = max(worst_consistency, get.calls)
        old = merkle.root(m, getter(million))
        assert merkle.verify_consistency(m, n, old, root, proof_)
    assert worst_inclusion <= 2 * log_n, worst_inclusion
    assert worst_consistency <= 2 * log_n, worst_consistency
    elapsed = time.perf_counter() - started
    print(f"\n1,000,000 leaves: worst reads {worst_inclusion} (inclusion), {worst_consistency}")
    print(f"(consistency); 400 proofs made and checked in {elapsed:.2f} s")


def test_reads_stay_logarithmic_for_every_small_tree(tree):
    for n in range(1, 129):
        bound = 2 * n.bit_length()
        get = Counting(tree.get)
        merkle.root(n, get)
        assert get.calls == bin(n).count("1")
        for k in range(n):
            get.calls = 0
            merkle.inclusion_proof(k, n, get)
            assert get.calls <= bound, (k, n, get.calls)
            get.calls = 0
            merkle.consistency_proof(k, n, get)
            assert get.calls <= bound, (k, n, get.calls)
