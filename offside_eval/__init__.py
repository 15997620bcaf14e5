"""offside_eval: evaluation harness and shared data layer of the OFFSIDE unlearning benchmark."""
__version__ = "0.1.0"


def evaluate(*args, **kwargs):
    """Run an evaluation; see `offside_eval.evaluator.evaluate` (imported lazily: torch is heavy)."""
    from .evaluator import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
