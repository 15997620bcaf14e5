"""`offside-data`: build OFFSIDE-mini, build the tiny model, validate a data root."""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from .schema import INFOS, SPLITS, DataError


def _validate(root: str) -> int:
    from .loader import load_items

    items = load_items(root)
    counts = Counter((it.split, it.info) for it in items)
    text = Counter(it.split for it in items if it.text_question)
    mc = Counter(it.split for it in items if it.options)
    players = len({it.player for it in items})
    print(f"{root}: {len(items)} items, {players} players, "
          f"{sum(it.visual_rumor for it in items if it.split == 'forget')} visual-rumor forget items")
    print(f"{'split':<8} {'shared':>7} {'private':>8} {'text':>6} {'mc':>6}")
    for split in SPLITS:
        print(f"{split:<8} " + " ".join(f"{counts[(split, i)]:>{w}}" for i, w in zip(INFOS, (7, 8)))
              + f" {text[split]:>6} {mc[split]:>6}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offside-data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synth", help="write the synthetic OFFSIDE-mini dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--players", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("tiny-model", help="write a tiny random-weight Qwen2.5-VL checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--data", help="OFFSIDE-mini folder to train the tokenizer on (default: a fresh one)")
    p.add_argument("--hidden_size", type=int, default=256)
    p.add_argument("--num_layers", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("validate", help="check a data root and print counts per split/info/modality")
    p.add_argument("root")
    args = parser.parse_args(argv)
    try:
        if args.command == "synth":
            from .synth import generate

            counts = generate(args.out, n_players=args.players, seed=args.seed)
            print(f"OFFSIDE-mini written to {args.out}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        elif args.command == "tiny-model":
            from ..tiny_model import TinyConfig, build_tiny_model

            cfg = TinyConfig(hidden_size=args.hidden_size, num_layers=args.num_layers, seed=args.seed)
            print(f"tiny Qwen2.5-VL written to {build_tiny_model(args.out, args.data, cfg)}")
        else:
            return _validate(args.root)
    except (DataError, ValueError, FileNotFoundError) as exc:
        print(f"offside-data: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
