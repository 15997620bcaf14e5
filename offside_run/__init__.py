"""offside_run: the one-command OFFSIDE experiment pipeline and its paper-style report."""
