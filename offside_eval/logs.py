"""offside-eval's log: one stderr handler on the `offside_eval` logger, at the run's verbosity."""
from __future__ import annotations

import logging
import sys

from .results import EvalError

log = logging.getLogger("offside_eval")


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr (not the one at creation time)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def setup_logging(verbosity: str | None) -> None:
    level = getattr(logging, str(verbosity or "INFO").upper(), None)
    if not isinstance(level, int):
        raise EvalError(f"unknown verbosity {verbosity!r} (DEBUG, INFO, WARNING, ERROR)")
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [offside_eval] %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)
