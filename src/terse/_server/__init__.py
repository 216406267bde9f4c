"""What terse knows about each server: one `Dialect` row per server (``dialects.py``), the
native budget knobs it points to (``budgets.py``), the continuation policies
(``continuation.py``), model families, and the probe that reads the rows (``probe.py``)."""
