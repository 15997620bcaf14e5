"""offside_eval: the evaluation harness (lmms-eval-style YAML tasks over every registered benchmark)."""
from .task_config import GroupConfig, TaskConfig, TaskError
from .tasks_index import TaskIndex

__version__ = "0.1.0"
__all__ = ["GroupConfig", "TaskConfig", "TaskError", "TaskIndex", "evaluate"]


def evaluate(*args, **kwargs):
    """Run an evaluation; see `offside_eval.evaluator.evaluate` (imported lazily: torch is heavy)."""
    from .evaluator import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
