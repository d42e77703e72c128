"""Exact amounts of money. Binary floats never touch an amount."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 minor units of the currencies that do not use two decimals.
_MINOR_UNITS = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3,
    "JPY": 0, "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0,
    "TND": 3, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip

#: The largest amount accepted anywhere (a sanity bound, far above any real price).
MAX_AMOUNT = Decimal("1000000000000")


class InvalidAmount(ValueError):
    """The value cannot be an amount of money; the message says why."""


def minor_units(currency_code: str) -> int:
    """How many decimals the currency uses (2 unless ISO 4217 says otherwise)."""
    return _MINOR_UNITS.get(currency_code, 2)


def is_currency_code(code: str) -> bool:
    """Whether ``code`` has the shape of an ISO 4217 code (three capital letters)."""
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def to_amount(value: object, currency_code: str) -> Decimal:
    """Check ``value`` is a finite, non-negative amount with at most the currency's decimals."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise InvalidAmount("must be a number")
    try:
        amount = Decimal(value)
    except InvalidOperation as error:
        raise InvalidAmount("must be a number") from error
    if not amount.is_finite():
        raise InvalidAmount("must be a finite number")
    if amount < 0:
        raise InvalidAmount("must not be negative")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"must be at most {MAX_AMOUNT}")
    places = minor_units(currency_code)
    exponent = amount.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and -exponent > places
        and amount != amount.quantize(Decimal(1).scaleb(-places))
    ):
        raise InvalidAmount(f"must have at most {places} decimal places for {currency_code}")
    return amount


def plain(amount: Decimal) -> Decimal:
    """The same amount without trailing zeros or exponent, e.g. ``100.00`` → ``100``."""
    if amount == amount.to_integral_value():
        return amount.quantize(Decimal(1))
    return amount.normalize()
