"""`python -m offside_eval.lmms export [DIR]`: (re)write the lmms-eval task copies (default: the shipped
folder); `python -m offside_eval.lmms tasks-dir`: print the folder to pass as lmms-eval's --include_path."""
import sys

from .export import TASKS_DIR, export_tasks

if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["tasks-dir"]:
        print(TASKS_DIR)
    elif args[:1] == ["export"] and len(args) <= 2:
        print(f"wrote {len(export_tasks(*args[1:]))} lmms-eval tasks")
    else:
        print("usage: python -m offside_eval.lmms {tasks-dir | export [DIR]}", file=sys.stderr)
        sys.exit(2)
