"""offside_train: TRL-based vanilla / unlearning / relearning trainers, on any registered benchmark's records."""
from .config import ConfigError, build_config

__version__ = "0.1.0"
__all__ = ["ConfigError", "build_config"]
