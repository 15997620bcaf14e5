"""`offside-data`: build OFFSIDE-mini, build the tiny model, validate a data root (counts per fact,
anomalies per image), and build MC files with an LLM (make-mcq) and text-only files by rules or an
LLM (make-text)."""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from .benchmarks import BENCHMARKS
from .schema import INFOS, SPLITS, DataError


def _validate(root: str) -> int:
    from .audit import audit
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
    _print_facts(items)
    _print_players(items, players)
    reports = audit(items)
    odd = [r for r in reports if r.problems]
    for report in odd:
        print(f"warning: {report.image} ({report.player}): {'; '.join(report.problems)}", file=sys.stderr)
    print(f"\n{len(odd)} of {len(reports)} images anomalous (warnings above; their records load as they are)")
    _cross_check(items)
    if not text:
        print(f"note: no text-only variants (text_{{split}}_set.json): the unimodal setting and text modality have "
              f"no documents; build them with `offside-data make-text {root} --out {root}` "
              "(rules; --method llm rewrites with an LLM)")
    if not mc:
        print(f"note: no MC options (classification_{{split}}_set.json): MC tasks have no documents; build them with "
              f"`offside-data make-mcq {root} --out {root}` (an LLM)")
    return 0


def _print_facts(items) -> None:
    """QAs per fact and split: every image carries each fact once."""
    from .facts import FACTS, info_of

    per = Counter((it.fact, it.split) for it in items)
    print(f"\n{'fact':<14} {'info':<8} " + " ".join(f"{s:>7}" for s in SPLITS) + f" {'total':>7}")
    for fact in (*FACTS, None):
        row = [per[(fact, s)] for s in SPLITS]
        if fact or any(row):
            print(f"{fact or '(unknown)':<14} {info_of(fact) if fact else '?':<8} "
                  + " ".join(f"{n:>7}" for n in row) + f" {sum(row):>7}")


def _print_players(items, players: list[str]) -> None:
    images = Counter()
    per_info = Counter()
    for it in items:
        per_info[(it.player, it.info)] += 1
        images[(it.player, it.image)] = 1
    width = max(len(p) for p in players)
    print(f"\n{'player':<{width}} {'images':>6} {'shared':>7} {'private':>8}")
    for player in players:
        n_images = sum(1 for p, _img in images if p == player)
        print(f"{player:<{width}} {n_images:>6} {per_info[(player, 'shared')]:>7} {per_info[(player, 'private')]:>8}")


def _cross_check(items) -> None:
    """The old keyword rule, kept only to flag QAs whose wording says the other info than their fact."""
    from .loader import keyword_info

    off = [it for it in items if it.fact and keyword_info(it.question) != it.info]
    if off:
        print(f"cross-check: the keyword rule labels {len(off)} QA(s) otherwise than their fact (the fact decides), "
              f"e.g. {off[0].id} {off[0].fact}: {off[0].question!r}", file=sys.stderr)


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
    return _report_failed(report, "failed every attempt", "rerun (cached replies are reused) or raise --attempts")


def _make_text_rules(args) -> int:
    from .construct import make_text_rules

    report = make_text_rules(args.root, args.out, splits=args.splits.split(",") if args.splits else None,
                             limit=args.limit, overwrite=args.overwrite)
    print(f"make-text (rules) -> {args.out}: {report.line()}")
    return _report_failed(report, "failed the checks", "their questions refer to the image in a way the rules do not know; "
                                  "try --method llm")


def _report_failed(report, what: str, hint: str) -> int:
    """List the QAs a build left out (first 10); 1 when there are any."""
    for item_id, why in report.failed[:10]:
        print(f"  failed {item_id}: {why}", file=sys.stderr)
    if report.failed:
        more = " (first 10 shown)" if len(report.failed) > 10 else ""
        print(f"offside-data: {len(report.failed)} QAs {what} and were left out{more}; {hint}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="offside-data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synth", help="write a benchmark's synthetic offline fixture (default: OFFSIDE-mini)")
    p.add_argument("--benchmark", choices=sorted(n for n, b in BENCHMARKS.items() if b.generate), default="offside")
    p.add_argument("--out", required=True)
    p.add_argument("--size", "--players", "--profiles", dest="size", type=int, default=None,
                   help="how many subjects (players, profiles, ...; default: the fixture's own)")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("tiny-model", help="write a tiny random-weight Qwen2.5-VL checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--data", help="OFFSIDE-mini folder to train the tokenizer on (default: a fresh one)")
    p.add_argument("--hidden_size", type=int, default=256)
    p.add_argument("--num_layers", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("validate", help="check a data root and print counts per split/info/modality")
    p.add_argument("--benchmark", choices=sorted({"offside", "mllmu"} | {n for n, b in BENCHMARKS.items() if b.validate}),
                   default="offside")
    p.add_argument("--forget_ratio", type=int, default=5, choices=(5, 10, 15), help="mllmu: forget_N to count")
    p.add_argument("root")
    p = sub.add_parser("mmbench-fixture", help="write a small synthetic MMBench-format TSV (tests, docs)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("make-mcq", help="LLM distractors -> classification_{split}_set.json (paper appendix G)")
    _add_llm_args(p)
    p = sub.add_parser("make-text", help="text-only rewrites -> text_{split}_set.json: by rules (default) or an "
                                          "LLM (--method llm, paper appendix G)")
    _add_llm_args(p)
    p.add_argument("--method", choices=("rules", "llm"), default="rules",
                   help="rules: the player's name in place of the image reference, no LLM (the LLM options are unused)")
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
        elif args.command == "mmbench-fixture":
            from .mmbench import read_tsv, write_fixture

            path = write_fixture(args.out, seed=args.seed)
            print(f"MMBench-format fixture written to {path}: {len(read_tsv(path))} questions")
        elif args.command == "make-text" and args.method == "rules":
            return _make_text_rules(args)
        elif args.command in ("make-mcq", "make-text"):
            return _construct(args)
        elif args.benchmark == "mllmu":
            return _validate_mllmu(args.root, args.forget_ratio)
        elif args.benchmark == "offside":
            return _validate(args.root)
        else:  # a plugin benchmark's own root validator
            return BENCHMARKS[args.benchmark].validate(args.root)
    except (DataError, ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"offside-data: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
