"""``fanfare-draw-v1``: determinism, a frozen test vector, an independent reference
implementation, statistical uniformity, and properties over random inputs."""

from __future__ import annotations

import hashlib
import math
import random
import struct
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fanfare_core.domain.draw_selection import (
    ALGORITHM,
    DrawProof,
    InvalidEntries,
    RandomStream,
    canonical_entries,
    commitment_of,
    encode_entries,
    entries_digest,
    first_mismatch,
    parse_entries,
    select,
)

SEED = bytes(range(32))
TEN = [f"cons_{i:02d}" for i in range(10)]


# -- an independent reference: the documented steps, written as plainly as possible --------


def reference(
    seed: bytes, entries: Sequence[str], winners: int, backups: int
) -> tuple[str, list[str], list[str]]:
    """docs/draws.md step by step: a full list, a generator of words, in-place swaps."""
    canonical = sorted(set(entries), key=lambda e: e.encode("utf-8"))
    encoded = b"".join(e.encode("utf-8") + b"\n" for e in canonical)
    digest = hashlib.sha256(encoded).digest()

    def words() -> Iterator[int]:
        counter = 0
        while True:
            block = hashlib.sha256(seed + digest + struct.pack(">Q", counter)).digest()
            for i in range(4):
                yield int.from_bytes(block[8 * i : 8 * i + 8], "big")
            counter += 1

    stream = words()

    def uniform(n: int) -> int:
        while True:
            word = next(stream)
            if word < 2**64 - 2**64 % n:
                return word % n

    items = list(canonical)
    count = min(len(items), winners + backups)
    for i in range(count):
        j = i + uniform(len(items) - i)
        items[i], items[j] = items[j], items[i]
    return digest.hex(), items[: min(winners, count)], items[winners:count]


# -- determinism and the frozen vector ------------------------------------------------------


def test_a_known_answer_so_the_algorithm_can_never_drift_silently() -> None:
    result = select(SEED, TEN, 3, 2)
    assert result.algorithm == ALGORITHM == "fanfare-draw-v1"
    assert encode_entries(TEN) == "".join(f"{e}\n" for e in TEN).encode()
    assert result.entries_digest == (
        "faa1c5375d243988e4f71c5c875391ffbd52a00f380dbd6c13c6d1ef30ecf623"
    )
    assert RandomStream(SEED, entries_digest(TEN)).block(0).hex() == (
        "4dbd23ca19595ec24d5f30f5a45a8bc0c9ac1e3129081ea004cce2441e55ad83"
    )
    # Checked by hand: printf 'cons_00\n…cons_09\n' | sha256sum gives the digest; the
    # first word 0x4dbd23ca19595ec2 mod 10 = 0 picks cons_00 first.
    assert 0x4DBD23CA19595EC2 % 10 == 0
    assert result.winners == ("cons_00", "cons_04", "cons_02")
    assert result.backups == ("cons_03", "cons_08")
    assert commitment_of(SEED) == (
        "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
    )


def test_the_same_inputs_always_give_the_same_result_and_match_the_reference() -> None:
    entries = [f"cons_{i:05d}" for i in range(500)]
    first = select(SEED, entries, 20, 10)
    assert select(SEED, list(entries), 20, 10) == first
    digest, winners, backups = reference(SEED, entries, 20, 10)
    assert (first.entries_digest, list(first.winners), list(first.backups)) == (
        digest,
        winners,
        backups,
    )


def test_fewer_entries_than_winners_means_everyone_wins_and_no_backups() -> None:
    result = select(SEED, TEN[:4], 10, 5)
    assert sorted(result.winners) == TEN[:4]
    assert result.backups == ()
    assert select(SEED, [], 3, 3).winners == ()
    assert select(SEED, [], 3, 3).entries_digest == hashlib.sha256(b"").hexdigest()


def test_backups_follow_the_winners_in_the_same_order() -> None:
    result = select(SEED, TEN, 3, 4)
    longer = select(SEED, TEN, 3, 7)
    assert len(set(result.winners + result.backups)) == 7
    assert longer.winners == result.winners
    assert longer.backups[:4] == result.backups
    # A bigger prize list keeps the earlier places: winners are a prefix of one order.
    assert select(SEED, TEN, 5, 0).winners == (result.winners + result.backups)[:5]


def test_one_entry_more_or_less_changes_the_whole_result() -> None:
    entries = [f"cons_{i:04d}" for i in range(1000)]
    base = select(SEED, entries, 10, 0)
    loser = next(e for e in entries if e not in base.winners)
    without = select(SEED, [e for e in entries if e != loser], 10, 0)
    with_one_more = select(SEED, [*entries, "cons_9999"], 10, 0)
    assert without.entries_digest != base.entries_digest
    for other in (without, with_one_more):
        assert len(set(other.winners) & set(base.winners)) <= 3  # ~0.1 expected in common


def test_the_seed_changes_the_result() -> None:
    entries = [f"cons_{i:04d}" for i in range(1000)]
    assert select(SEED, entries, 10, 0).winners != select(bytes(32), entries, 10, 0).winners


def test_rejection_sampling_skips_words_that_would_bias_the_result() -> None:
    digest = entries_digest(TEN)
    bound = 2**63 + 1  # almost half of all words must be rejected
    stream = RandomStream(SEED, digest)
    words = RandomStream(SEED, digest)
    for _ in range(50):
        value = stream.below(bound)
        word = words.word()
        while word >= 2**64 - 2**64 % bound:
            word = words.word()
        assert value == word % bound < bound
    assert stream.word() == words.word()  # both consumed the same words


def test_inputs_are_checked() -> None:
    with pytest.raises(InvalidEntries):
        select(SEED, ["b", "a"], 1, 0)  # not canonical
    with pytest.raises(InvalidEntries):
        select(SEED, ["a", "a"], 1, 0)  # duplicate
    with pytest.raises(InvalidEntries):
        canonical_entries(["a\nb"])
    with pytest.raises(InvalidEntries):
        canonical_entries(["", "a"])
    with pytest.raises(InvalidEntries, match="empty"):  # refused even when order is trusted
        select(SEED, ["", "a"], 1, 0, sorted_distinct=True)
    with pytest.raises(InvalidEntries, match="line feed"):
        select(SEED, ["a\nb", "c"], 1, 0, sorted_distinct=True)
    with pytest.raises(ValueError, match="32 bytes"):
        select(b"short", TEN, 1, 0)
    with pytest.raises(ValueError, match="negative"):
        select(SEED, TEN, -1, 0)
    assert canonical_entries(["b", "a", "b", "é", "z"]) == ["a", "b", "z", "é"]


def test_entry_files_parse_back_only_when_canonical() -> None:
    assert parse_entries(encode_entries(TEN)) == TEN
    assert parse_entries(b"") == []
    for bad in (b"a\nb", b"b\na\n", b"a\na\n", b"\n", b"\xff\n"):
        with pytest.raises(InvalidEntries):
            parse_entries(bad)


# -- proofs ---------------------------------------------------------------------------------


def proof_of(entries: list[str], winners: int = 3, backups: int = 2) -> DrawProof:
    result = select(SEED, entries, winners, backups)
    return DrawProof(
        algorithm=result.algorithm,
        seed=SEED,
        commitment=commitment_of(SEED),
        entries_digest=result.entries_digest,
        entry_count=result.entry_count,
        winner_count=winners,
        winners=result.winners,
        backups=result.backups,
    )


def test_a_genuine_proof_verifies_and_any_tampering_is_named() -> None:
    proof = proof_of(TEN)
    assert first_mismatch(proof, encode_entries(TEN)) is None
    tampered = encode_entries([e for e in TEN if e not in proof.winners[:1]])
    assert "SHA-256" in str(first_mismatch(proof, tampered))
    swapped = DrawProof(**{**_fields(proof), "winners": proof.winners[::-1]})
    assert str(first_mismatch(swapped, encode_entries(TEN))).startswith("winner 1 should be")
    other_seed = DrawProof(**{**_fields(proof), "seed": bytes(32)})
    assert "commitment" in str(first_mismatch(other_seed, encode_entries(TEN)))
    fewer = DrawProof(**{**_fields(proof), "backups": proof.backups[:1]})
    assert first_mismatch(fewer, encode_entries(TEN)) is None  # a shorter backup list is a prefix
    extra = DrawProof(**{**_fields(proof), "backups": (*proof.backups, "cons_99")})
    assert "backup 3 should be" in str(first_mismatch(extra, encode_entries(TEN)))
    counted = DrawProof(**{**_fields(proof), "entry_count": 11})
    assert "10 entries" in str(first_mismatch(counted, encode_entries(TEN)))
    unknown = DrawProof(**{**_fields(proof), "algorithm": "other"})
    assert "unknown algorithm" in str(first_mismatch(unknown, encode_entries(TEN)))


def _fields(proof: DrawProof) -> dict[str, object]:
    return {name: getattr(proof, name) for name in DrawProof.__dataclass_fields__}


# -- statistics -----------------------------------------------------------------------------


def chi_square_p_value(statistic: float, degrees: int) -> float:
    """P(X >= statistic) for X ~ chi-square(degrees), for whole degrees of freedom:
    Q(x; 1) = erfc(sqrt(x/2)), Q(x; 2) = exp(-x/2), Q(x; k+2) = Q(x; k) + (x/2)^(k/2)
    exp(-x/2) / Gamma(k/2 + 1)."""
    half = statistic / 2
    k = 2 if degrees % 2 == 0 else 1
    q = math.exp(-half) if k == 2 else math.erfc(math.sqrt(half))
    while k < degrees:
        q += math.exp((k / 2) * math.log(half) - half - math.lgamma(k / 2 + 1)) if half else 0
        k += 2
    return q


def chi_square(counts: Sequence[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


SIGNIFICANCE = 1e-6  # a correct algorithm fails this less than once in a million suites


def seeds(count: int, label: str) -> Iterator[bytes]:
    """Fixed, distinct seeds: the statistical tests are deterministic, never flaky."""
    for i in range(count):
        yield hashlib.sha256(f"{label}:{i}".encode()).digest()


def test_the_chi_square_helper_agrees_with_published_tables() -> None:
    table = [(3.841, 1, 0.05), (5.991, 2, 0.05), (18.307, 10, 0.05), (20.090, 8, 0.01),
             (31.410, 20, 0.05), (45.315, 20, 0.001), (41.638, 23, 0.01)]  # fmt: skip
    for statistic, degrees, p in table:
        assert chi_square_p_value(statistic, degrees) == pytest.approx(p, rel=0.02)
    # It notices a clearly biased outcome.
    assert chi_square_p_value(chi_square([1300, *[1000] * 20]), 20) < SIGNIFICANCE


def test_each_entry_is_equally_likely_to_win() -> None:
    entries = [f"cons_{i:02d}" for i in range(21)]
    counts = Counter(select(seed, entries, 1, 0).winners[0] for seed in seeds(21_000, "one"))
    assert len(counts) == 21
    assert chi_square_p_value(chi_square(list(counts.values())), 20) > SIGNIFICANCE


def test_every_place_in_the_order_is_uniform() -> None:
    entries = [f"cons_{i}" for i in range(9)]
    places: list[Counter[str]] = [Counter(), Counter(), Counter()]
    for seed in seeds(9_000, "places"):
        for place, winner in enumerate(select(seed, entries, 3, 0).winners):
            places[place][winner] += 1
    for counts in places:
        assert len(counts) == 9
        assert chi_square_p_value(chi_square(list(counts.values())), 8) > SIGNIFICANCE / 3


def test_every_order_of_a_small_draw_is_equally_likely() -> None:
    entries = ["a", "b", "c", "d"]
    counts = Counter(select(seed, entries, 2, 2).winners + select(seed, entries, 2, 2).backups
                     for seed in seeds(24_000, "orders"))  # fmt: skip
    assert set(counts) == set(permutations(entries))
    assert chi_square_p_value(chi_square(list(counts.values())), 23) > SIGNIFICANCE


# -- properties -----------------------------------------------------------------------------

ids = st.text(
    alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
)
entry_sets = st.lists(ids, unique=True, max_size=60)
seeds_32 = st.binary(min_size=32, max_size=32)
counts = st.integers(min_value=0, max_value=70)


@settings(max_examples=200, deadline=None)
@given(entries=entry_sets, seed=seeds_32, winners=counts, backups=counts)
def test_the_result_is_a_prefix_of_a_permutation_of_the_entries(
    entries: list[str], seed: bytes, winners: int, backups: int
) -> None:
    result = select(seed, canonical_entries(entries), winners, backups)
    order = result.winners + result.backups
    assert len(set(order)) == len(order) == min(len(entries), winners + backups)
    assert set(order) <= set(entries)
    assert len(result.winners) == min(len(entries), winners)
    assert result.entry_count == len(entries)


@settings(max_examples=200, deadline=None)
@given(entries=entry_sets, seed=seeds_32, winners=counts, backups=counts, shuffle=st.randoms())
def test_the_input_order_does_not_matter_and_the_reference_agrees(
    entries: list[str], seed: bytes, winners: int, backups: int, shuffle: random.Random
) -> None:
    shuffled = list(entries)
    shuffle.shuffle(shuffled)
    result = select(seed, canonical_entries(entries), winners, backups)
    assert select(seed, canonical_entries(shuffled + shuffled[:3]), winners, backups) == result
    assert select(seed, canonical_entries(entries), winners, backups) == result
    # A caller that sorted distinct ids itself may skip the order check: same result.
    trusted = select(seed, sorted(set(entries)), winners, backups, sorted_distinct=True)
    assert trusted == result
    digest, ref_winners, ref_backups = reference(seed, shuffled, winners, backups)
    assert (result.entries_digest, list(result.winners), list(result.backups)) == (
        digest,
        ref_winners,
        ref_backups,
    )


@settings(max_examples=200, deadline=None)
@given(entries=entry_sets)
def test_canonical_order_is_bytewise_and_the_encoding_round_trips(entries: list[str]) -> None:
    canonical = canonical_entries(entries)
    assert canonical == sorted(entries, key=lambda e: e.encode("utf-8"))
    assert parse_entries(encode_entries(canonical)) == canonical


@settings(max_examples=100, deadline=None)
@given(entries=entry_sets.filter(bool), seed=seeds_32, winners=counts)
def test_a_proof_of_any_draw_verifies(entries: list[str], seed: bytes, winners: int) -> None:
    canonical = canonical_entries(entries)
    result = select(seed, canonical, winners, winners)
    proof = DrawProof(
        algorithm=ALGORITHM, seed=seed, commitment=commitment_of(seed),
        entries_digest=result.entries_digest, entry_count=len(canonical),
        winner_count=winners, winners=result.winners, backups=result.backups,
    )  # fmt: skip
    assert first_mismatch(proof, encode_entries(canonical)) is None
    assert first_mismatch(proof, encode_entries(canonical[1:])) is not None
