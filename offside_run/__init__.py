"""offside_run: the one-command experiment pipeline (plan, validate, run stages on an executor, report); each
benchmark plans and reports its own runs through a run profile."""
