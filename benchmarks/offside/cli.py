"""OFFSIDE's `offside-data` commands: `validate` (counts per fact and player, anomalies per image) and the
release builders `make-mcq` (LLM distractors) and `make-text` (text-only rewrites by rules or an LLM)."""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from offside_data.commands import DataCommand, register_command
from offside_data.llm_client import OpenAIChatClient

from .audit import audit
from .construct import make_mcq, make_text, make_text_rules
from .facts import FACTS, info_of
from .loader import check_images, keyword_info, load_items
from .schema import INFOS, SPLITS


def validate_release(root: str, **_options) -> int:
    """`offside-data validate`: counts per split, fact and player, the audit's anomalies, what is missing."""

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
    off = [it for it in items if it.fact and keyword_info(it.question) != it.info]
    if off:
        print(f"cross-check: the keyword rule labels {len(off)} QA(s) otherwise than their fact (the fact decides), "
              f"e.g. {off[0].id} {off[0].fact}: {off[0].question!r}", file=sys.stderr)


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
    if args.command == "make-text" and args.method == "rules":
        return _make_text_rules(args)
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


def _add_text_args(p: argparse.ArgumentParser) -> None:
    _add_llm_args(p)
    p.add_argument("--method", choices=("rules", "llm"), default="rules",
                   help="rules: the player's name in place of the image reference, no LLM (the LLM options are unused)")


register_command(DataCommand("make-mcq", "LLM distractors -> classification_{split}_set.json (paper appendix G)",
                             _add_llm_args, _construct))
register_command(DataCommand("make-text", "text-only rewrites -> text_{split}_set.json: by rules (default) or an "
                                          "LLM (--method llm, paper appendix G)", _add_text_args, _construct))
