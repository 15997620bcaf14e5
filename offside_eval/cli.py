"""`offside-eval`: command-line shell over `offside_eval.evaluate`."""
from __future__ import annotations

import argparse
import sys

from .unlearning_metrics import DEFAULT_TOKEN_SET, TOKEN_SETS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="offside-eval", description="Evaluate an MLLM on OFFSIDE tasks (YAML).")
    p.add_argument("--model", default="qwen2_5_vl", help="registered model: qwen2_5_vl, hf_vlm, openai_chat, ...")
    p.add_argument("--model_args", default="", help="k=v,k=v (e.g. pretrained=PATH,adapter=DIR,dtype=float32)")
    p.add_argument("--tasks", required=True, help="comma-separated task/group names, or 'list'")
    p.add_argument("--batch_size", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--limit", type=float, default=None, help="first N docs per task (or a fraction < 1)")
    p.add_argument("--output_path", default=None, help="folder for results.json and samples_<task>.jsonl")
    p.add_argument("--log_samples", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--include_path", action="append", default=[], help="extra task folder (repeatable)")
    p.add_argument("--data_root", default=None,
                   help="data of the tasks' benchmark: a folder or hub id, or NAME=PATH,... per benchmark "
                        "(else each benchmark's env var, e.g. $OFFSIDE_DATA_ROOT, else its synthetic fixture)")
    p.add_argument("--gen_kwargs", default=None, help="k=v,... overriding the tasks' generation_kwargs")
    p.add_argument("--judge_args", default=None,
                   help="LLM judge for *_judge tasks (fact_score): base_url=URL,model=NAME[,concurrency=8,...] "
                        "(OpenAI-compatible; key from $OPENAI_API_KEY) or judge=hf,pretrained=PATH")
    p.add_argument("--metadata", default=None,
                   help="k=v,... passed to the tasks' benchmark (lm-eval's --metadata), e.g. forget_ratio=10 "
                        "(a benchmark's keys: switches its forget / retain / test sets together)")
    p.add_argument("--reference_results", default=None,
                   help="results folder of a reference model (e.g. trained on retain only, run with --log_samples): "
                        "adds forget_quality to forget truth-ratio tasks and privleak_* to MIA tasks")
    p.add_argument("--token_set", default=DEFAULT_TOKEN_SET, choices=list(TOKEN_SETS),
                   help="answer tokens of the unlearning metrics' probabilities (recorded in results.json "
                        "config.token_set): " + "; ".join(f"{k}: {v}" for k, v in TOKEN_SETS.items()))
    p.add_argument("--bootstrap_iters", type=int, default=100)
    p.add_argument("--attack", default=None, metavar="NAME[:k=v,...]",
                   help="evaluate under an attack (quantize, typographic, blur, jailbreak, in_context, ...); "
                        "'list' shows every attack and its options")
    p.add_argument("--wandb_args", default=None, metavar="k=v,...",
                   help="log the results to Weights & Biases (project=NAME[,name=,entity=,mode=offline]; "
                        "the tracking extra)")
    p.add_argument("--verbosity", default="INFO")
    p.add_argument("--no_progress", action="store_true", help="no progress bars")
    p.add_argument("--use_cache", default=None,
                   help="journal store shared by runs and output folders (default: OUTPUT_PATH/journal); "
                        "answers are keyed by a hash of the model's weight files, the task config and the request")
    p.add_argument("--check_batch_invariance", type=int, nargs="?", const=16, default=0, metavar="N",
                   help="re-answer N contexts per stream (default 16) at batch size 1; fail if any differs")
    p.add_argument("--batch_invariance_tol", type=float, default=1e-4,
                   help="allowed log-likelihood difference (absolute, and relative to the value)")
    return p


def _data_root(value: str | None) -> str | dict[str, str] | None:
    """`--data_root PATH` (every benchmark) or `--data_root NAME=PATH,NAME2=PATH2` (per benchmark)."""
    from offside_data.benchmarks import BENCHMARKS

    if not value or value.partition("=")[0] not in BENCHMARKS:
        return value
    return dict(pair.partition("=")[::2] for pair in value.split(","))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from offside_data.benchmarks import BenchmarkError
    from offside_data.extras import MissingExtra
    from offside_data.lineage import CheckpointError
    from offside_data.options import OptionError
    from offside_data.schema import DataError

    from .attacks import AttackError, attack_table
    from .batching import BatchVarianceError
    from .evaluator import EvalError, evaluate
    from .journal import Interrupted
    from .metrics import MetricError
    from .models import ModelError
    from .results import make_table
    from .tasks_index import TaskError, TaskIndex

    try:
        if args.tasks.strip() == "list":
            print(TaskIndex(args.include_path).table())
            return 0
        if args.attack == "list":
            print(attack_table())
            return 0
        limit = args.limit
        if limit is not None and limit >= 1:
            limit = int(limit)
        out = evaluate(args.model, args.model_args, args.tasks, batch_size=args.batch_size, device=args.device,
                       limit=limit, output_path=args.output_path, log_samples=args.log_samples, seed=args.seed,
                       include_path=args.include_path, data_root=_data_root(args.data_root), gen_kwargs=args.gen_kwargs,
                       bootstrap_iters=args.bootstrap_iters, verbosity=args.verbosity,
                       progress=not args.no_progress, judge_args=args.judge_args, use_cache=args.use_cache,
                       check_batch_invariance=args.check_batch_invariance,
                       batch_invariance_tol=args.batch_invariance_tol, reference_results=args.reference_results,
                       metadata=args.metadata, attack=args.attack, token_set=args.token_set,
                       wandb_args=args.wandb_args)
    except (TaskError, ModelError, DataError, EvalError, MetricError, BenchmarkError, OptionError,
            CheckpointError, AttackError, MissingExtra) as exc:
        print(f"offside-eval: error: {exc}", file=sys.stderr)
        return 2
    except BatchVarianceError as exc:
        print(f"offside-eval: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"offside-eval: {(exc if isinstance(exc, Interrupted) else Interrupted(0)).message()}", file=sys.stderr)
        return 130
    if out is not None:  # None: a data-parallel rank other than 0
        print(make_table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
