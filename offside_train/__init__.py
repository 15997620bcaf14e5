"""offside_train: TRL-based vanilla / unlearning / relearning trainers for OFFSIDE."""
__version__ = "0.1.0"
