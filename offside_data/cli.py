"""`offside-data`: build OFFSIDE-mini, build the tiny model, validate a data root, and build
MC / text-only files with an LLM (make-mcq, make-text)."""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from .schema import INFOS, SPLITS, DataError

SHARED_PRIVATE_PER_IMAGE = (8, 6)  # OFFSIDE: 8 shared facts and 6 private transfer facts per image


def _validate(root: str) -> int:
    from .loader import check_images, load_items

    items = load_items(root)
    n_images = check_images(root, items)
    counts = Counter((it.split, it.info) for it in items)
    text = Counter(it.split for it in items if it.text_question)
    mc = Counter(it.split for it in items if it.options)
    players = sorted({it.player for it in items})
    print(f"{root}: {len(items)} items, {len(players)} players, {n_images} images (headers checked), "
          f"{sum(it.visual_rumor for it in items if it.split == 'forget')} visual-rumor forget items")
    print(f"{'split':<8} {'shared':>7} {'private':>8} {'text':>6} {'mc':>6}")
    for split in SPLITS:
        print(f"{split:<8} " + " ".join(f"{counts[(split, i)]:>{w}}" for i, w in zip(INFOS, (7, 8)))
              + f" {text[split]:>6} {mc[split]:>6}")
    per_image = Counter((it.player, it.image, it.info) for it in items)
    images = sorted({(it.player, it.image) for it in items})
    width = max(len(p) for p in players)
    shared_n, private_n = SHARED_PRIVATE_PER_IMAGE
    print(f"\n{'player':<{width}} {'images':>6} {'shared':>7} {'private':>8}  "
          f"(per image: {shared_n} shared, {private_n} private)")
    for player in players:
        mine = [img for p, img in images if p == player]
        shared = sum(per_image[(player, img, "shared")] for img in mine)
        private = sum(per_image[(player, img, "private")] for img in mine)
        print(f"{player:<{width}} {len(mine):>6} {shared:>7} {private:>8}")
    odd = [(p, img) for p, img in images
           if (per_image[(p, img, "shared")], per_image[(p, img, "private")]) != SHARED_PRIVATE_PER_IMAGE]
    for player, image in odd:
        print(f"warning: {player}, {image}: {per_image[(player, image, 'shared')]} shared / "
              f"{per_image[(player, image, 'private')]} private QAs (OFFSIDE has {shared_n} / {private_n} per image)",
              file=sys.stderr)
    return 0


def _validate_mllmu(root: str, forget_ratio: int) -> int:
    from .mllmu import KINDS, MODALITIES, SPLITS, ImageRef, mllmu_docs, read_release

    rows = read_release(root)
    n_images = 0
    for config, config_rows in rows.items():
        for row in config_rows:
            images = row["images"] if config == "Test_Set" else [row["image"]]
            for j, img in enumerate(images):
                field = f"images[{j}]" if config == "Test_Set" else "image"
                ImageRef(img["bytes"], row["_source"], row["_row"], field).load()
                n_images += 1
    print(f"{root}: MLLMU-Bench release, {n_images} images decoded")
    print("  ".join(f"{config}={len(r)}" for config, r in rows.items()))
    print(f"\ndocs at forget ratio {forget_ratio} (seed 0; excluded = questions of shot profiles)")
    print(f"{'split':<10} {'kind':<6} {'mm':>5} {'text':>5} {'excluded mm/text':>17}")
    for split in SPLITS:
        for kind in KINDS:
            docs = {m: mllmu_docs(root, split, kind, m, forget_ratio=forget_ratio, rows=rows) for m in MODALITIES}
            excluded = "/".join(str(docs[m][0].n_fewshot_excluded if docs[m] else "-") for m in MODALITIES)
            print(f"{split:<10} {kind:<6} {len(docs['mm']):>5} {len(docs['text']):>5} {excluded:>17}")
    return 0


def _add_llm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", help="data root with {split}_set.json chat files")
    p.add_argument("--out", required=True, help="folder for the written files")
    p.add_argument("--splits", help="comma-separated splits (default: all present)")
    p.add_argument("--limit", type=int, help="only the first N QAs (a trial run)")
    p.add_argument("--attempts", type=int, default=3, help="rounds of asking again after a rejected reply")
    p.add_argument("--overwrite", action="store_true")
    g = p.add_argument_group("LLM (any OpenAI-compatible server; key from the environment)")
    g.add_argument("--model", default="gpt-4o")
    g.add_argument("--base_url", help="e.g. http://127.0.0.1:8000/v1 (default: OPENAI_BASE_URL or OpenAI)")
    g.add_argument("--api_key_env", default="OPENAI_API_KEY", help="environment variable holding the key")
    g.add_argument("--concurrency", type=int, default=8)
    g.add_argument("--max_retries", type=int, default=5)
    g.add_argument("--timeout", type=float, default=60.0)
    g.add_argument("--cache_dir", help="reply cache (default: $OFFSIDE_CACHE/llm-cache)")
    g.add_argument("--no_progress", action="store_true")


def _construct(args) -> int:
    from .construct import make_mcq, make_text
    from .llm_client import OpenAIChatClient

    if args.attempts < 1:
        raise ValueError(f"--attempts must be >= 1, got {args.attempts}")
    client = OpenAIChatClient(model=args.model, base_url=args.base_url, api_key_env=args.api_key_env,
                              concurrency=args.concurrency, max_retries=args.max_retries, timeout=args.timeout,
                              cache_dir=args.cache_dir)
    build = make_mcq if args.command == "make-mcq" else make_text
    report = build(args.root, args.out, client, splits=args.splits.split(",") if args.splits else None,
                   limit=args.limit, attempts=args.attempts, overwrite=args.overwrite, progress=not args.no_progress)
    stats = client.stats
    print(f"{args.command} -> {args.out}: {report.line()} "
          f"(requests {stats.requests}, cached replies {stats.cache_hits}, retries {stats.retries})")
    for item_id, why in report.failed[:10]:
        print(f"  failed {item_id}: {why}", file=sys.stderr)
    if report.failed:
        more = " (first 10 shown)" if len(report.failed) > 10 else ""
        print(f"offside-data: {len(report.failed)} QAs failed every attempt and were left out{more}; "
              "rerun (cached replies are reused) or raise --attempts", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offside-data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synth", help="write the synthetic OFFSIDE-mini (or MLLMU-mini) dataset")
    p.add_argument("--benchmark", choices=("offside", "mllmu"), default="offside")
    p.add_argument("--out", required=True)
    p.add_argument("--players", type=int, default=12)
    p.add_argument("--profiles", type=int, default=60, help="mllmu: fictional profiles")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("tiny-model", help="write a tiny random-weight Qwen2.5-VL checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--data", help="OFFSIDE-mini folder to train the tokenizer on (default: a fresh one)")
    p.add_argument("--hidden_size", type=int, default=256)
    p.add_argument("--num_layers", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("validate", help="check a data root and print counts per split/info/modality")
    p.add_argument("--benchmark", choices=("offside", "mllmu"), default="offside")
    p.add_argument("--forget_ratio", type=int, default=5, choices=(5, 10, 15), help="mllmu: forget_N to count")
    p.add_argument("root")
    p = sub.add_parser("mmbench-fixture", help="write a small synthetic MMBench-format TSV (tests, docs)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("make-mcq", help="LLM distractors -> classification_{split}_set.json (paper appendix G)")
    _add_llm_args(p)
    p = sub.add_parser("make-text", help="LLM text-only rewrites -> text_{split}_set.json (paper appendix G)")
    _add_llm_args(p)
    args = parser.parse_args(argv)
    try:
        if args.command == "synth" and args.benchmark == "mllmu":
            from .mllmu_synth import generate as generate_mllmu

            counts = generate_mllmu(args.out, n_profiles=args.profiles, seed=args.seed)
            print(f"MLLMU-mini written to {args.out}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        elif args.command == "synth":
            from .synth import generate

            counts = generate(args.out, n_players=args.players, seed=args.seed)
            print(f"OFFSIDE-mini written to {args.out}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        elif args.command == "tiny-model":
            from .tiny_model import TinyConfig, build_tiny_model

            cfg = TinyConfig(hidden_size=args.hidden_size, num_layers=args.num_layers, seed=args.seed)
            print(f"tiny Qwen2.5-VL written to {build_tiny_model(args.out, args.data, cfg)}")
        elif args.command == "mmbench-fixture":
            from .mmbench import read_tsv, write_fixture

            path = write_fixture(args.out, seed=args.seed)
            print(f"MMBench-format fixture written to {path}: {len(read_tsv(path))} questions")
        elif args.command in ("make-mcq", "make-text"):
            return _construct(args)
        elif args.benchmark == "mllmu":
            return _validate_mllmu(args.root, args.forget_ratio)
        else:
            return _validate(args.root)
    except (DataError, ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"offside-data: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
