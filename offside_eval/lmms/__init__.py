"""lmms-eval interop (the `lmms` extra): our models in lmms-eval's registry (`adapter`, `registry`),
a benchmark's tasks as an lmms-eval task folder (`export`, `hooks`, its `lmms_dir`), and lmms-eval tasks
run from offside-eval (`run_lmms_tasks`). Import the submodules: they need lmms-eval installed."""
