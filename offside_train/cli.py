"""`offside-train`: vanilla SFT, unlearning and relearning checkpoints for offside-eval.

  offside-train sft      --model PRETRAINED --data ROOT --out DIR [--finetune full]
  offside-train unlearn  --method {ga,gd,kl,po,npo,manu,mmu,simnpo,idkdpo,rmu} --model VANILLA --data ROOT --out DIR
  offside-train relearn  --model UNLEARNED --data ROOT --out DIR

Every option can also come from `--config FILE.yaml` (keys = option names); the command line
wins. Runs unchanged under `accelerate launch` (see offside_train/configs/).
"""
from __future__ import annotations

import argparse
import sys

from .config import ConfigError, SFTRunConfig, add_dataclass_options, build_config, load_yaml
from .methods import METHODS, get_method


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="offside-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    helps = {"sft": "vanilla model: SFT on forget + retain", "unlearn": "unlearn the forget set with one method",
             "relearn": "SFT on the relearn split"}
    for name, text in helps.items():
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", help="YAML file of options; command-line options override it")
        if name == "unlearn":
            p.add_argument("--method", choices=sorted(METHODS), default=argparse.SUPPRESS)
            classes = [cls.config_class for _, cls in sorted(METHODS.items())]
        else:
            classes = [SFTRunConfig]
        add_dataclass_options(p, classes, skip=("role", "method"))
    return parser


def make_config(argv: list[str] | None = None):
    """(command, config dataclass) from the command line and the optional YAML file."""
    args = vars(_parser().parse_args(argv))
    command, config_file = args.pop("command"), args.pop("config")
    file_values = load_yaml(config_file)
    if command != "unlearn":
        file_values.pop("role", None)
        return command, build_config(SFTRunConfig, file_values, {**args, "role": "relearn" if command == "relearn" else "train"})
    method = args.get("method") or file_values.get("method")
    if not method:
        raise ConfigError("unlearn needs --method (or `method:` in the config file)")
    return command, build_config(get_method(method).config_class, file_values, args)


def main(argv: list[str] | None = None) -> int:
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
    print(f"offside-train: {command} checkpoint written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
