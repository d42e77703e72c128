import time

import pytest

from fanfare_core.domain.errors import ValidationFailed
from fanfare_core.ids import new_id, ulid
from fanfare_core.service_layer.pagination import PageRequest, decode_cursor, encode_cursor, page_of


def test_ids_carry_their_type_and_a_26_character_ulid() -> None:
    prefix, _, body = new_id("queue").partition("_")
    assert prefix == "queue"
    assert len(body) == 26
    assert set(body) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_ulids_sort_by_time() -> None:
    now = int(time.time() * 1000)
    earlier, later = ulid(now), ulid(now + 1)
    assert earlier < later
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    millis = 0
    for char in later[:10]:
        millis = millis * 32 + alphabet.index(char)
    assert millis == now + 1


def test_ulids_are_unique() -> None:
    assert len({ulid() for _ in range(10_000)}) == 10_000


def test_cursors_round_trip_and_foreign_cursors_are_refused() -> None:
    item = new_id("draw")
    assert decode_cursor(encode_cursor(item)) == item
    for bad in ["", "!!!", "bm90IGFuIGlk", encode_cursor("x_y")]:
        assert decode_cursor(bad) is None


def test_page_request_checks_limit_and_cursor() -> None:
    assert PageRequest(limit=5).checked() == (5, None)
    with pytest.raises(ValidationFailed) as failure:
        PageRequest(limit=0, cursor="garbage!").checked()
    assert [d.field for d in failure.value.details] == ["limit", "cursor"]


def test_a_page_has_a_cursor_only_when_more_rows_exist() -> None:
    rows = [new_id("queue") for _ in range(3)]
    full = page_of(rows, 2, lambda r: r)
    assert full.items == rows[:2]
    assert full.next_cursor is not None
    assert decode_cursor(full.next_cursor) == rows[1]
    assert page_of(rows, 3, lambda r: r).next_cursor is None


def test_ids_made_in_the_same_millisecond_keep_their_order() -> None:
    made = [ulid() for _ in range(1000)]  # many fall in the same millisecond
    assert made == sorted(made)
    assert len(set(made)) == 1000
