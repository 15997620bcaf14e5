"""`offside-train`: vanilla SFT, unlearning and relearning checkpoints for offside-eval.

  offside-train sft      --model PRETRAINED --data ROOT --out DIR [--finetune full]
  offside-train unlearn  --method METHOD --model VANILLA --data ROOT --out DIR
  offside-train relearn  --model UNLEARNED --data ROOT --out DIR
  offside-train retain_only --model PRETRAINED --data ROOT --out DIR   # the reference: retain set only
  offside-train relearn_attack --model UNLEARNED --data ROOT --out DIR --max_steps K   # retain set, K steps

Every option can also come from `--config FILE.yaml` (keys = option names); the command line
wins. `offside-train unlearn --method NAME --help` lists a method's options, including every
transformers Trainer setting. Runs unchanged under `accelerate launch` (see offside_train/configs/).
"""
from __future__ import annotations

import argparse
import sys

from transformers import HfArgumentParser

from offside_data.benchmarks import add_train_option_flags

from .checkpoint import interrupted_state
from .config import ConfigError, build_config, config_class, load_yaml
from .methods import METHODS, UnlearnConfig

COMMANDS = {"sft": "vanilla model: SFT on forget + retain", "unlearn": "unlearn the forget set with one method",
            "relearn": "SFT on the relearn split",
            "retain_only": "reference model: SFT on the retain set only (forget quality, NPO reference)",
            "relearn_attack": "relearning attack: a few steps of SFT of an unlearned model on the retain set"}


class OptionParser(HfArgumentParser):
    """HfArgumentParser whose errors are a one-line ConfigError instead of usage + exit."""

    def error(self, message):
        raise ConfigError(message)


def _parser(command: str, cls: type) -> OptionParser:
    parser = OptionParser(cls, prog=f"offside-train {command}", description=COMMANDS[command], allow_abbrev=False)
    parser.add_argument("--config", help="YAML file of options; command-line options override it")
    add_train_option_flags(parser)  # each benchmark's own options
    if command == "unlearn":
        parser.add_argument("--method", choices=sorted(METHODS), help="unlearning method; its options are listed "
                                                                     "by `--method NAME --help`")
    return parser


def make_config(argv: list[str] | None = None):
    """(command, validated config) from the command line and the optional YAML file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        if argv and argv[0] in ("-h", "--help"):
            print(__doc__)
            raise SystemExit(0)
        raise ConfigError(f"the first argument must be one of {', '.join(COMMANDS)}")
    command = argv[0]
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--method")
    known, _ = pre.parse_known_args(argv[1:])
    file_values = load_yaml(known.config)
    method = known.method or file_values.get("method")
    if command == "unlearn" and not method:
        _parser(command, UnlearnConfig).parse_args(argv[1:])  # prints the shared options for --help
        raise ConfigError("unlearn needs --method (or `method:` in the config file)")
    stage = method if command == "unlearn" else command
    parser = _parser(command, config_class(stage))
    parsed = vars(parser.parse_args(argv[1:]))
    named = {arg.split("=")[0] for arg in argv[1:] if arg.startswith("--")}
    cli = {a.dest: parsed[a.dest] for a in parser._actions if named & set(a.option_strings) and a.dest in parsed}
    options = {**file_values, **cli}
    options.pop("config", None)
    options.pop("method", None)
    # unknown or mistyped keys can only come from the file: argparse has checked the command line
    return command, build_config(stage, options, known.config or "command line")


def main(argv: list[str] | None = None) -> int:
    cfg = None
    try:
        command, cfg = make_config(argv)
        if command == "unlearn":
            from .unlearn import run_unlearn

            out = run_unlearn(cfg)
        else:
            from .sft import run_sft

            out = run_sft(cfg)
    except (ConfigError, ValueError, OSError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        print(f"offside-train: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        state = interrupted_state(cfg) if cfg is not None else "nothing was written"
        print(f"offside-train: interrupted; {state}", file=sys.stderr)
        return 130
    print(f"offside-train: {command} checkpoint written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
