from datetime import UTC, datetime

import pytest

from fanfare_core.domain.timing import InvalidTime, format_instant, parse_instant, zone

NEW_YORK = zone("America/New_York")


def test_naive_time_is_read_in_the_given_zone() -> None:
    assert parse_instant("2024-12-15T09:00:00", NEW_YORK) == datetime(2024, 12, 15, 14, tzinfo=UTC)


def test_summer_time_applies_in_july() -> None:
    assert parse_instant("2024-07-01T09:00:00", NEW_YORK) == datetime(2024, 7, 1, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-12-15T09:00:00-05:00", datetime(2024, 12, 15, 14, tzinfo=UTC)),
        ("2024-12-15T09:00:00+01:00", datetime(2024, 12, 15, 8, tzinfo=UTC)),
        ("2024-12-15T14:00:00Z", datetime(2024, 12, 15, 14, tzinfo=UTC)),
        ("2024-12-15T14:00:00.250Z", datetime(2024, 12, 15, 14, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_an_explicit_offset_wins_over_the_zone(text: str, expected: datetime) -> None:
    assert parse_instant(text, NEW_YORK) == expected


def test_a_wall_time_skipped_by_daylight_saving_is_refused() -> None:
    with pytest.raises(InvalidTime, match="does not exist in America/New_York"):
        parse_instant("2024-03-10T02:30:00", NEW_YORK)


def test_an_ambiguous_wall_time_means_its_first_occurrence() -> None:
    # 01:30 happens twice on 2024-11-03 in New York; the first is still daylight time (-4).
    assert parse_instant("2024-11-03T01:30:00", NEW_YORK) == datetime(
        2024, 11, 3, 5, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text", ["", "tomorrow", "2024-12-15", "2024-13-01T00:00:00", "2024-12-15T25:00:00", "1" * 50]
)
def test_malformed_datetimes_are_refused(text: str) -> None:
    with pytest.raises(InvalidTime):
        parse_instant(text, NEW_YORK)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", " UTC", "../etc/passwd", "/etc/localtime"])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidTime, match="unknown IANA time zone"):
        zone(name)


def test_instants_are_shown_in_utc_with_z() -> None:
    assert format_instant(datetime(2024, 12, 15, 9, tzinfo=NEW_YORK)) == "2024-12-15T14:00:00Z"
    assert (
        format_instant(datetime(2024, 12, 15, 14, 0, 0, 123456, tzinfo=UTC))
        == "2024-12-15T14:00:00.123Z"
    )
