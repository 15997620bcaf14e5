"""`python -m offside_eval.lmms export [DIR] [--benchmark NAME]`: (re)write a benchmark's lmms-eval task
copies (default: the default benchmark's, into its shipped folder); `python -m offside_eval.lmms tasks-dir`:
print the folders to pass as lmms-eval's --include_path, one per line."""
import argparse

from offside_data.benchmarks import BENCHMARKS, DEFAULT_BENCHMARK

from .export import export_tasks, tasks_dirs

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m offside_eval.lmms", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tasks-dir", help="print the lmms-eval task folders")
    p = sub.add_parser("export", help="rewrite a benchmark's lmms-eval task copies")
    p.add_argument("dest", nargs="?", help="folder to write (default: the benchmark's lmms_dir)")
    p.add_argument("--benchmark", choices=sorted(BENCHMARKS), default=DEFAULT_BENCHMARK)
    args = parser.parse_args()
    if args.command == "tasks-dir":
        print("\n".join(map(str, tasks_dirs())))
    else:
        print(f"wrote {len(export_tasks(args.dest, args.benchmark))} lmms-eval tasks")
