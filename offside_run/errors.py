"""The one error of `offside run`'s inputs, below every module that raises it."""
from __future__ import annotations


class ExperimentError(ValueError):
    """Invalid experiment YAML (or run folder); the message names the file and key."""
