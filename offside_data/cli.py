"""`offside-data`: a benchmark's synthetic fixture (`synth`), the tiny model (`tiny-model`), a data root's
check (`validate`), and each benchmark's own commands (OFFSIDE's make-mcq / make-text, ...)."""
from __future__ import annotations

import argparse
import sys

from .benchmarks import BENCHMARKS, DEFAULT_BENCHMARK, add_train_option_flags, declared_train_options
from .commands import COMMANDS
from .schema import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offside-data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synth", help="write a benchmark's synthetic offline fixture")
    p.add_argument("--benchmark", choices=sorted(n for n, b in BENCHMARKS.items() if b.generate), default=DEFAULT_BENCHMARK)
    p.add_argument("--out", required=True)
    p.add_argument("--size", "--players", "--profiles", dest="size", type=int, default=None,
                   help="how many subjects (players, profiles, ...; default: the fixture's own)")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("tiny-model", help="write a tiny random-weight Qwen2.5-VL checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--data", help="folder of chat JSON files to train the tokenizer on (default: the default "
                                  "benchmark's fixture)")
    p.add_argument("--hidden_size", type=int, default=256)
    p.add_argument("--num_layers", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("validate", help="check a benchmark's data root and print what it holds")
    p.add_argument("--benchmark", choices=sorted(n for n, b in BENCHMARKS.items() if b.validate), default=DEFAULT_BENCHMARK)
    add_train_option_flags(p)
    p.add_argument("root")
    for command in COMMANDS.values():  # the benchmarks' own
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    args = parser.parse_args(argv)
    try:
        if args.command == "synth":
            bench = BENCHMARKS[args.benchmark]
            counts = bench.generate(args.out, size=args.size, seed=args.seed)
            print(f"{bench.fixture_title} written to {args.out}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        elif args.command == "tiny-model":
            from .tiny_model import TinyConfig, build_tiny_model

            cfg = TinyConfig(hidden_size=args.hidden_size, num_layers=args.num_layers, seed=args.seed)
            print(f"tiny Qwen2.5-VL written to {build_tiny_model(args.out, args.data, cfg)}")
        elif args.command in COMMANDS:
            return COMMANDS[args.command].run(args)
        else:
            bench = BENCHMARKS[args.benchmark]
            given = {k: v for k, v in vars(args).items() if k in declared_train_options()}
            bench.train_values(given)  # names an option this benchmark does not take
            return bench.validate(args.root, **given)
    except (DataError, ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"offside-data: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
