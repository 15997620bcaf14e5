"""Optional extras (`pip install 'offside[NAME]'`): the core imports none of them at module level;
a feature that needs one asks for it here and gets one line naming the extra when it is missing."""
from __future__ import annotations

import importlib
from types import ModuleType

# importable module -> the extra that installs it
EXTRAS = {"lmms_eval": "lmms", "vllm": "vllm", "torchao": "quant", "wandb": "tracking", "submitit": "cluster"}


class MissingExtra(ImportError):
    """A feature's optional dependency is not installed; the message names the extra to install."""


def require(module: str, feature: str) -> ModuleType:
    """Import `module` (one of EXTRAS) for `feature`, or raise MissingExtra naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{feature} needs {module}, which is not installed: "
                           f"pip install 'offside[{EXTRAS[module]}]'") from None
