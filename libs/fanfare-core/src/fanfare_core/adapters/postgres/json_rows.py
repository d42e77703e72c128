"""Many rows as one statement parameter: a JSON array the statement reads with
``json_array_elements``.

psycopg sends a Python list as a PostgreSQL array, escaping it element by element in
Python; for a batch of a crowd's entries and events that costs more than the rest of the
statement. One JSON text, encoded in C by msgspec and parsed in C by PostgreSQL, does not.
Read it as ``json`` (not ``jsonb``): an element keeps its text exactly as written, so a
``msgspec.Raw`` value (an encoded event) is stored byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

_encoder = msgspec.json.Encoder()


def json_rows(rows: Sequence[object]) -> str:
    """The parameter for ``json_array_elements(%s::json)``: each row a JSON array."""
    return _encoder.encode(rows).decode()
