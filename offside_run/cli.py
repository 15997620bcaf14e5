"""`offside run EXPERIMENT.yaml` runs the whole protocol; `offside report RUN_DIR` rebuilds the report;
`offside compare RUN_OR_RESULTS...` puts every checkpoint's numbers side by side; `offside probe
CHECKPOINT...` reads the rumor from their hidden states, layer by layer."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from offside_data.extras import MissingExtra

from .executors import KINDS, StageFailed, executor_spec


def builtin_config(name: str) -> Path | None:
    """`demo`, `paper_7b`, ... name an experiment shipped in a benchmark's configs folder."""
    from .profiles import load_profiles

    folders = [p.configs_dir for p in load_profiles().values() if p.configs_dir]
    return next((f / f"{name}.yaml" for f in folders if (f / f"{name}.yaml").exists()), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offside", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run an experiment (resumable; finished stages are skipped)")
    p.add_argument("config", help="experiment YAML, or the name of a shipped config (demo, paper_3b, paper_7b)")
    p.add_argument("--output_dir", help="override the config's output_dir")
    p.add_argument("--no_progress", action="store_true")
    p.add_argument("--dry_run", action="store_true",
                   help="validate everything and print the stage plan (cached / to run in which wave of stages that "
                        "can run at once, work per stage); run nothing")
    p.add_argument("--workers", type=int, help="stages at once (overrides the config's executor.workers; alone, "
                                               "N > 1 means local worker processes)")
    p.add_argument("--executor", choices=KINDS, help="sequential (default), local (worker processes on this machine "
                                                     "via submitit) or slurm (a SLURM job per stage via submitit)")
    p = sub.add_parser("report", help="rebuild report.md, tables and plots of a run folder")
    p.add_argument("run_dir")
    p = sub.add_parser("compare", help="every checkpoint x task x metric of run folders and results.json files in "
                                       "one CSV and one markdown table, with stderr and n")
    p.add_argument("paths", nargs="+", metavar="RUN_OR_RESULTS",
                   help="a run folder (run_manifest.json), a results.json, or a folder holding one")
    p.add_argument("--out_dir", default=".", help="where comparison.csv and comparison.md go (default: here)")
    p = sub.add_parser("probe", help="per-layer linear-probe and logit-lens accuracy of checkpoints on one MC task "
                                     "(is the rumor still encoded inside?)")
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="checkpoint folders (e.g. vanilla, unlearned)")
    p.add_argument("--task", default="offside_forget_mm_mc", help="a multiple_choice task (default: the forget set's)")
    p.add_argument("--limit", type=int, default=None, help="first N documents")
    p.add_argument("--data_root", default=None, help="the task's data root (else its env var, else its fixture)")
    p.add_argument("--device", default=None)
    p.add_argument("--out_dir", default=".", help="where probe.csv and probe.md go (default: here)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
                        datefmt="%H:%M:%S")

    from .pipeline import Experiment, ExperimentError, Runner
    from .run_folder import build_report

    start = time.perf_counter()
    try:
        if args.command == "run":
            path = Path(args.config) if Path(args.config).is_file() else builtin_config(args.config)
            if path is None:
                raise ExperimentError(f"{args.config}: no such file or shipped config")
            exp = Experiment.from_yaml(path, args.output_dir)
            spec = executor_spec(exp.executor, exp.source, args.executor, args.workers)
            runner = Runner(exp, progress=not args.no_progress, executor=spec)
            if args.dry_run:
                stages = runner.plan()
                runner.validate(stages)
                print(runner.describe(stages))
                return 0
            report = runner.run()
            print(f"trained {len(runner.trained)} stage(s), evaluated {len(runner.evaluated)} checkpoint(s)")
        elif args.command == "probe":
            from .probe import probe

            report = probe(args.checkpoints, args.task, args.out_dir, args.limit, args.data_root, args.device)
        elif args.command == "compare":
            from .compare import compare

            csv_path, report = compare(args.paths, args.out_dir)
            print(f"comparison: {csv_path}")
        else:
            report = build_report(args.run_dir)
    except (ExperimentError, MissingExtra) as exc:
        print(f"offside: error: {exc}", file=sys.stderr)
        return 2
    except StageFailed as exc:  # the traceback is in the run folder's errors/
        print(f"offside: error: {exc}", file=sys.stderr)
        return 1
    print(report.read_text(encoding="utf-8"))
    print(f"report: {report}  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
