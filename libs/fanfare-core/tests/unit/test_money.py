from decimal import Decimal

import pytest

from fanfare_core.domain.money import InvalidAmount, plain, to_amount


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (100, "USD", Decimal(100)),
        (Decimal("10.50"), "USD", Decimal("10.50")),
        ("0.1", "USD", Decimal("0.1")),
        (Decimal("1.234"), "KWD", Decimal("1.234")),
        (Decimal("5000"), "JPY", Decimal(5000)),
        (Decimal("10.500"), "USD", Decimal("10.500")),
    ],
)
def test_valid_amounts_are_exact(value: object, currency: str, expected: Decimal) -> None:
    assert to_amount(value, currency) == expected


@pytest.mark.parametrize(
    ("value", "currency", "message"),
    [
        (-1, "USD", "must not be negative"),
        (Decimal("NaN"), "USD", "finite"),
        (Decimal("Infinity"), "USD", "finite"),
        (Decimal("10.123"), "USD", "at most 2 decimal places"),
        (Decimal("1.5"), "JPY", "at most 0 decimal places"),
        (Decimal("1E+400"), "USD", "at most"),
        (True, "USD", "must be a number"),
        (1.5, "USD", "must be a number"),
        ("ten", "USD", "must be a number"),
    ],
)
def test_invalid_amounts_say_why(value: object, currency: str, message: str) -> None:
    with pytest.raises(InvalidAmount, match=message):
        to_amount(value, currency)


def test_plain_drops_trailing_zeros_without_exponents() -> None:
    assert str(plain(Decimal("100.00"))) == "100"
    assert str(plain(Decimal("1E+2"))) == "100"
    assert str(plain(Decimal("10.50"))) == "10.5"
