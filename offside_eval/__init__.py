"""offside_eval: evaluation harness and shared data layer of the OFFSIDE unlearning benchmark."""
__version__ = "0.1.0"
