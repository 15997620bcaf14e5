"""`python -m offside_eval` (and `accelerate launch -m offside_eval` for data-parallel runs): the CLI."""
import sys

from .cli import main

sys.exit(main())
