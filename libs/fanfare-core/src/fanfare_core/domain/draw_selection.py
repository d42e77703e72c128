"""``fanfare-draw-v1``: how a draw's winners and backups are selected, so anyone can check.

Everything here is public and deterministic; docs/draws.md states it for implementers in
other languages. Inputs: the draw's 32-byte secret ``seed``, the list of entries (consumer
ids), the number of winners and the number of backups.

1. **Canonical entry list**: the distinct consumer ids sorted by their UTF-8 bytes
   (bytewise, as PostgreSQL's ``"C"`` collation and Python's ``sorted`` order them). An id
   is a non-empty string without a line feed.
2. **Entry encoding**: each id in canonical order as UTF-8 followed by one line feed
   (``0x0A``); the empty list encodes as no bytes. This is exactly the entry file served
   at ``GET /api/v1/draws/:id/proof/entries``.
3. **Entries digest**: ``D = SHA-256(encoding)`` (32 bytes; shown in hex).
4. **Random stream**: blocks ``B_k = SHA-256(seed ‖ D ‖ uint64_be(k))`` for k = 0, 1, 2, …
   (32 + 32 + 8 = 72 input bytes); the stream is ``B_0 ‖ B_1 ‖ …``, read 8 bytes at a time
   as big-endian unsigned 64-bit words.
5. **Unbiased bounded integers**: to draw uniformly from ``[0, n)``, take the next word
   ``w``; if ``w < 2^64 - (2^64 mod n)`` the result is ``w mod n``, else reject ``w`` and
   take the next one.
6. **Partial Fisher-Yates**: with ``N`` entries and ``m = min(N, winners + backups)``, for
   ``i`` from 0 to ``m - 1``: draw ``j = i + uniform(N - i)``, swap positions ``i`` and
   ``j`` of the (conceptual) list, and output the entry now at position ``i``. Only
   swapped positions are remembered, so memory is O(m) beyond the list.
7. The first ``min(N, winners)`` outputs are the winners in order; the rest are the
   backups in the order they replace winners.

Mixing ``D`` into every block means adding or removing a single entry changes the whole
result unpredictably, and the seed (committed to by ``SHA-256(seed)`` before entries close)
means nobody without it could predict or steer the result from the entry list.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from operator import lt

ALGORITHM = "fanfare-draw-v1"
VERSION = 1
SEED_BYTES = 32
_WORD_SPACE = 1 << 64
_WORDS = struct.Struct(">4Q")


class InvalidEntries(ValueError):
    """The entry list cannot be used: not canonical, or an id that cannot be encoded."""


def commitment_of(seed: bytes) -> str:
    """The public commitment to ``seed``: SHA-256 of its 32 bytes, in lowercase hex."""
    _check_seed(seed)
    return hashlib.sha256(seed).hexdigest()


def canonical_entries(entries: Iterable[str]) -> list[str]:
    """The canonical list of ``entries``: distinct ids in bytewise (UTF-8) order.

    Code point order and UTF-8 byte order agree, so a plain sort is bytewise.
    """
    canonical = sorted(set(entries))
    _encoded(canonical)  # every id must be encodable: non-empty, no line feed, valid Unicode
    return canonical


def encode_entries(canonical: Sequence[str]) -> bytes:
    """The bytes the entries digest covers (step 2); ``canonical`` must be canonical."""
    return _encoded(canonical)


def entries_digest(canonical: Sequence[str]) -> bytes:
    """SHA-256 of :func:`encode_entries` (step 3)."""
    return hashlib.sha256(_encoded(canonical)).digest()


def parse_entries(encoded: bytes) -> list[str]:
    """The canonical list from an entry file (step 2's bytes), or :class:`InvalidEntries`
    when the file is not the canonical encoding of any list."""
    if not encoded:
        return []
    if not encoded.endswith(b"\n"):
        raise InvalidEntries("the entry list must end with a line feed")
    try:
        text = encoded.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidEntries("the entry list is not UTF-8") from error
    entries = text[:-1].split("\n")
    _check_canonical(entries)
    return entries


class RandomStream:
    """The deterministic stream of steps 4 and 5."""

    def __init__(self, seed: bytes, digest: bytes) -> None:
        _check_seed(seed)
        if len(digest) != 32:
            raise ValueError("the entries digest must be 32 bytes")
        self._prefix = seed + digest
        self._block = 0
        self._words: list[int] = []

    def block(self, index: int) -> bytes:
        """``B_index`` of the stream."""
        return hashlib.sha256(self._prefix + index.to_bytes(8, "big")).digest()

    def word(self) -> int:
        """The next unsigned 64-bit word."""
        if not self._words:
            self._words = list(reversed(_WORDS.unpack(self.block(self._block))))
            self._block += 1
        return self._words.pop()

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)`` by rejection sampling."""
        if bound < 1:
            raise ValueError("the bound must be positive")
        limit = _WORD_SPACE - _WORD_SPACE % bound
        while True:
            value = self.word()
            if value < limit:
                return value % bound


@dataclass(frozen=True, slots=True)
class Selection:
    """The outcome of a draw: who won and who stands behind them, in order."""

    algorithm: str
    entries_digest: str  # hex
    entry_count: int
    winners: tuple[str, ...]
    backups: tuple[str, ...]


def select(
    seed: bytes,
    canonical: Sequence[str],
    winner_count: int,
    backup_count: int,
    *,
    sorted_distinct: bool = False,
) -> Selection:
    """Run ``fanfare-draw-v1`` over a canonical entry list (see the module's steps).

    Fewer entries than winners: everyone wins, in a random order, and there are no backups.
    Raises :class:`InvalidEntries` if ``canonical`` is not canonical. A caller that sorted
    ids it knows to be distinct itself says ``sorted_distinct`` and skips the order check
    (a fifth of the time for a million); empty ids and line feeds are refused still.
    """
    if winner_count < 0 or backup_count < 0:
        raise ValueError("winner and backup counts must not be negative")
    digest = hashlib.sha256(_encoded(canonical, check_order=not sorted_distinct)).digest()
    order = _shuffled_prefix(
        RandomStream(seed, digest), canonical, min(len(canonical), winner_count + backup_count)
    )
    return Selection(
        algorithm=ALGORITHM,
        entries_digest=digest.hex(),
        entry_count=len(canonical),
        winners=tuple(order[:winner_count]),
        backups=tuple(order[winner_count:]),
    )


def _shuffled_prefix(stream: RandomStream, entries: Sequence[str], count: int) -> list[str]:
    """The first ``count`` positions of a Fisher-Yates shuffle of ``entries`` (step 6).

    ``moved`` maps a position to the index of the entry now there, for swapped positions
    only; a position ``i`` is never read again once output, so it is dropped.
    """
    size = len(entries)
    moved: dict[int, int] = {}
    order: list[str] = []
    for i in range(count):
        j = i + stream.below(size - i)
        at_j = moved.get(j, j)
        at_i = moved.pop(i, i)
        if j != i:
            moved[j] = at_i
        order.append(entries[at_j])
    return order


@dataclass(frozen=True, slots=True)
class DrawProof:
    """What a drawn draw publishes (``GET /api/v1/draws/:id/proof``), apart from its entries."""

    algorithm: str
    seed: bytes
    commitment: str
    entries_digest: str
    entry_count: int
    winner_count: int
    winners: tuple[str, ...]
    backups: tuple[str, ...]


def first_mismatch(proof: DrawProof, encoded_entries: bytes) -> str | None:
    """Recompute a draw from its proof and entry file; ``None`` when everything agrees,
    else what differs first (the commitment, the digest, the count, a winner, a backup)."""
    problem = _header_mismatch(proof, encoded_entries)
    if problem is not None:
        return problem
    try:
        entries = parse_entries(encoded_entries)
    except InvalidEntries as error:
        return str(error)
    if len(entries) != proof.entry_count:
        return f"the entry list has {len(entries)} entries, the proof says {proof.entry_count}"
    selection = select(proof.seed, entries, proof.winner_count, len(proof.backups))
    return _list_mismatch("winner", selection.winners, proof.winners) or _list_mismatch(
        "backup", selection.backups, proof.backups
    )


def _header_mismatch(proof: DrawProof, encoded_entries: bytes) -> str | None:
    """The algorithm, the seed against its commitment, the entry file against its digest."""
    digest = hashlib.sha256(encoded_entries).hexdigest()
    checks = (
        (
            proof.algorithm == ALGORITHM,
            f"unknown algorithm {proof.algorithm!r} (this verifier knows {ALGORITHM})",
        ),
        (len(proof.seed) == SEED_BYTES, f"the seed is {len(proof.seed)} bytes, not {SEED_BYTES}"),
        (
            len(proof.seed) == SEED_BYTES
            and hmac.compare_digest(commitment_of(proof.seed), proof.commitment.lower()),
            "the seed does not match the commitment (SHA-256 of the seed)",
        ),
        (
            digest == proof.entries_digest.lower(),
            f"the entry list's SHA-256 is {digest}, the proof says {proof.entries_digest}",
        ),
    )
    return next((message for holds, message in checks if not holds), None)


def _list_mismatch(label: str, expected: Sequence[str], published: Sequence[str]) -> str | None:
    for place, (want, got) in enumerate(zip(expected, published, strict=False), start=1):
        if want != got:
            return f"{label} {place} should be {want}, the proof says {got}"
    if len(expected) != len(published):
        return f"{len(expected)} {label}s recomputed, the proof lists {len(published)}"
    return None


def _check_seed(seed: bytes) -> None:
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a draw seed is {SEED_BYTES} bytes")


def _check_canonical(entries: Sequence[str]) -> None:
    if entries and entries[0] == "":
        raise InvalidEntries("an entry is empty")
    if not all(map(lt, entries, islice(entries, 1, None))):
        raise InvalidEntries("the entries are not distinct and in bytewise order")


def _encoded(canonical: Sequence[str], *, check_order: bool = True) -> bytes:
    if check_order:
        _check_canonical(canonical)
    if not canonical:
        return b""
    if canonical[0] == "":
        raise InvalidEntries("an entry is empty")
    joined = "\n".join(canonical)
    if joined.count("\n") != len(canonical) - 1:
        raise InvalidEntries("an entry contains a line feed")
    try:
        return (joined + "\n").encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidEntries("an entry is not valid Unicode") from error
