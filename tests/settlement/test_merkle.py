"""The Merkle tree against the RFC's own recursive definitions and published vectors."""

import hashlib
import time

import pytest

from settlement.audit import merkle
from settlement.audit.merkle import MemoryTree

# The reference inputs and heads published with Certificate Transparency's implementation
# (google/certificate-transparency cpp/merkletree/merkle_tree_test.cc; the same values are
# in transparency-dev/merkle testonly/constants.go).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]  # fmt: skip
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Audit path of leaf 0 in the tree of all eight, from the same test file.
CT_PATH_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, word for word."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = merkle.split(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def data(i: int) -> bytes:
    return i.to_bytes(4, "big")


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    return MemoryTree(data(i) for i in range(1024))


def test_heads_match_the_published_vectors():
    tree = MemoryTree(CT_LEAVES)
    assert [tree.root(n).hex() for n in range(9)] == CT_ROOTS


def test_the_published_audit_path_is_produced_and_verifies():
    tree = MemoryTree(CT_LEAVES)
    proof = tree.inclusion_proof(0, 8)
    assert [p.hex() for p in proof] == CT_PATH_0_OF_8
    root = bytes.fromhex(CT_ROOTS[8])
    assert merkle.verify_inclusion(merkle.leaf_hash(CT_LEAVES[0]), 0, 8, proof, root)


def test_heads_for_every_size_to_1024_match_the_recursive_definition(tree):
    leaves = [data(i) for i in range(1024)]
    for n in range(1025):
        assert tree.root(n) == mth(leaves[:n]), n


def test_every_inclusion_proof_to_64_verifies_and_any_change_is_refused(tree):
    for n in range(1, 65):
        root = tree.root(n)
        for i in range(n):
            leaf = merkle.leaf_hash(data(i))
            proof = tree.inclusion_proof(i, n)
            assert merkle.verify_inclusion(leaf, i, n, proof, root), (i, n)
            assert not merkle.verify_inclusion(leaf, i, n, proof, hashlib.sha256(b"x").digest())
            if n > 1:
                assert not merkle.verify_inclusion(leaf, (i + 1) % n, n, proof, root)
                assert not merkle.verify_inclusion(leaf, i, n, [*proof, leaf], root)
                assert not merkle.verify_inclusion(leaf, i, n, proof[:-1], root)
            # (a wrong size whose path has the same shape leads to the same head; the
            # signed checkpoint binds size to head, so only a shape change is testable here)
            assert not merkle.verify_inclusion(leaf, i, 2 * n + 1, proof, root)
            assert not merkle.verify_inclusion(leaf, n, n, proof, root)  # index out of range
            for j in range(len(proof)):
                flipped = bytearray(proof[j])
                flipped[j % 32] ^= 1
                bad = [*proof[:j], bytes(flipped), *proof[j + 1 :]]
                assert not merkle.verify_inclusion(leaf, i, n, bad, root)


def test_every_consistency_proof_to_64_verifies_and_any_change_is_refused(tree):
    for n in range(1, 65):
        new_root = tree.root(n)
        for m in range(0, n + 1):
            old_root = tree.root(m)
            proof = tree.consistency_proof(m, n)
            assert merkle.verify_consistency(m, n, old_root, new_root, proof), (m, n)
            if 0 < m < n:
                assert not merkle.verify_consistency(m, n, new_root, new_root, proof)
                assert not merkle.verify_consistency(m, n, old_root, old_root, proof)
                assert not merkle.verify_consistency(m, 2 * n + 1, old_root, new_root, proof)
                assert not merkle.verify_consistency(m, n, old_root, new_root, proof[:-1])
                assert not merkle.verify_consistency(m, n, old_root, new_root, [*proof, old_root])
                for j in range(len(proof)):
                    flipped = bytearray(proof[j])
                    flipped[0] ^= 0x80
                    bad = [*proof[:j], bytes(flipped), *proof[j + 1 :]]
                    assert not merkle.verify_consistency(m, n, old_root, new_root, bad)
    assert not merkle.verify_consistency(5, 4, tree.root(5), tree.root(4), [])


def test_a_streaming_frontier_gives_every_head(tree):
    frontier = merkle.Frontier()
    for i in range(300):
        frontier.append(merkle.leaf_hash(data(i)))
        assert frontier.root() == tree.root(i + 1)
    assert merkle.Frontier().root() == merkle.EMPTY_ROOT


def test_appending_in_batches_stores_the_same_nodes_as_one_at_a_time():
    one_by_one = MemoryTree()
    for i in range(300):
        one_by_one.extend([data(i)])
    batched = MemoryTree()
    for start, end in [(0, 1), (1, 7), (7, 64), (64, 65), (65, 300)]:
        batched.extend(data(i) for i in range(start, end))
    assert batched.nodes == one_by_one.nodes
    assert len(batched.nodes) == 2 * 300 - bin(300).count("1")  # every perfect subtree once


def test_a_million_leaves_need_only_logarithmic_reads():
    big = MemoryTree()
    big.extend_hashes([hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1_000_000)])
    reads = 0

    def counted(level: int, index: int) -> bytes:
        nonlocal reads
        reads += 1
        return big.get(level, index)

    n = big.size
    started = time.perf_counter()
    root = merkle.root(n, counted)
    assert reads <= 20
    reads = 0
    proof = merkle.inclusion_proof(765_432, n, counted)
    assert reads <= 2 * 20 * 20  # each of ~20 siblings is a fold of at most ~20 nodes
    assert merkle.verify_inclusion(big.get(0, 765_432), 765_432, n, proof, root)
    reads = 0
    proof = merkle.consistency_proof(123_457, n, counted)
    assert reads <= 2 * 20 * 20
    assert merkle.verify_consistency(123_457, n, merkle.root(123_457, big.get), root, proof)
    elapsed = time.perf_counter() - started
    print(f"head + inclusion + consistency at 1,000,000 leaves: {elapsed * 1000:.2f} ms")
