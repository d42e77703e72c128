"""After startup, what is alive leaves the collector's work."""

import json
import subprocess
import sys

PROBE = """
import gc, json
from fanfare_core.gc_tuning import settle_after_startup
startup = [[i] for i in range(10_000)]  # containers alive from startup on
before = gc.get_freeze_count()
settle_after_startup()
gc.collect()  # a full collection afterwards does not thaw them
print(json.dumps([before, gc.get_freeze_count()]))
"""


def test_what_startup_left_alive_is_out_of_the_collectors_reach() -> None:
    # A process of its own: freezing is for the whole interpreter.
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    before, after = json.loads(out)
    assert before == 0
    assert after >= 10_000  # the startup objects (and the modules') are out of reach
