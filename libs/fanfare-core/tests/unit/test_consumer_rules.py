"""Fingerprints, external identities and the in-process cache of the hot path."""

from __future__ import annotations

import gc
import hashlib

import pytest

from fanfare_core.domain.consumers import (
    binding_of,
    check_external_identity,
    check_fingerprint,
    fingerprint_hash,
    is_valid_fingerprint,
    presented_fingerprint,
)
from fanfare_core.domain.errors import ErrorCollector, FingerprintRejected
from fanfare_core.ttl_cache import TtlCache


@pytest.mark.parametrize("value", ["a", "fp_01HXYZ123456789", "A.b_c:d-9", "x" * 256])
def test_well_formed_fingerprints(value: str) -> None:
    assert is_valid_fingerprint(value)
    assert presented_fingerprint(value) == value


@pytest.mark.parametrize("value", ["", "x" * 257, "has space", "semi;colon", "ünï", "a\nb", "a/b"])
def test_malformed_fingerprints_are_rejected(value: str) -> None:
    assert not is_valid_fingerprint(value)
    with pytest.raises(FingerprintRejected, match=r"^Fingerprint validation failed$"):
        presented_fingerprint(value)


def test_no_fingerprint_header_is_fine() -> None:
    assert presented_fingerprint(None) is None


def test_a_presented_fingerprint_must_match_the_binding() -> None:
    bound = fingerprint_hash("device-1")
    assert bound == hashlib.sha256(b"device-1").hexdigest()
    check_fingerprint(bound, "device-1")
    check_fingerprint(bound, None)  # the header is optional
    check_fingerprint(None, "device-2")  # an unbound session takes any device
    with pytest.raises(FingerprintRejected):
        check_fingerprint(bound, "device-2")


def test_an_exchanged_session_is_bound_to_the_codes_fingerprint_else_the_presented_one() -> None:
    code = fingerprint_hash("device-1")
    assert binding_of(code, None) == code
    assert binding_of(code, "device-1") == code
    assert binding_of(None, "device-2") == fingerprint_hash("device-2")
    assert binding_of(None, None) is None
    with pytest.raises(FingerprintRejected):
        binding_of(code, "device-2")


def test_external_identities_are_checked_field_by_field() -> None:
    errors = ErrorCollector()
    check_external_identity("customer-42", "device-1", errors)
    assert errors.details == []
    check_external_identity("  ", "bad fingerprint", errors)
    check_external_identity("x" * 256, None, errors)
    assert [d.field for d in errors.details] == ["externalId", "fingerprint", "externalId"]


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire_and_the_oldest_make_way() -> None:
    ticker = Ticker()
    cache: TtlCache[str, int] = TtlCache(2, ticker)
    cache.put("a", 1, 10)
    cache.put("b", 2, 5)
    assert (cache.get("a"), cache.get("b")) == (1, 2)
    ticker.now = 5
    assert (cache.get("a"), cache.get("b")) == (1, None)
    cache.put("c", 3, 10)
    cache.put("d", 4, 10)  # full: "a", stored first, goes
    assert (cache.get("a"), cache.get("c"), cache.get("d"), len(cache)) == (None, 3, 4, 2)
    cache.put("c", 5, 0)  # no lifetime: not kept
    assert cache.get("c") is None
    cache.discard("d")
    assert len(cache) == 0


def test_cached_plain_values_leave_the_collectors_young_generation() -> None:
    """A crowd's cached tokens must not pile up in the collector's middle generation,
    whose collections then pause every request (see fanfare_core.ttl_cache)."""
    cache: TtlCache[str, tuple[str, str, float]] = TtlCache(10_000)
    gc.collect()
    gc.disable()
    try:
        for i in range(5_000):
            cache.put(f"token-{i}", ("org", f"cons-{i}", float(i)), 60)
        gc.collect(0)  # one young collection, as the crowd's allocations trigger
        promoted = len(gc.get_objects(1))
    finally:
        gc.enable()
    assert len(cache) == 5_000
    assert promoted < 500
