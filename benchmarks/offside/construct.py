"""LLM-assisted data construction (the paper's appendix G), through the cached chat client.

make_mcq   for each QA, ask for three distractors that keep the correct answer's sentence
           template and change its key fact; validate (four distinct options, exactly one equal
           to the answer, same template) and write classification_{split}_set.json.
make_text  rewrite each image-referencing question to name the player, drop identity questions,
           keep answers unchanged (copied by us, never by the LLM); write text_{split}_set.json.
           `make_text_rules` does the same without an LLM (`textonly.rewrite_question`).

Rejected replies are asked again (up to `attempts` rounds) with the reason in the prompt. Every
reply is cached by (model, prompt hash), so an interrupted or repeated run resumes for free;
outputs are written atomically at the end. Items that fail every attempt are left out and
reported, never invented.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from offside_data.llm_client import ChatClient, parse_json_reply
from offside_data.prompts import render

from .loader import chat_file, classification_file, load_items
from .schema import LETTERS, PROMPTS, SPLITS, OffsideItem
from .textonly import rewrite_question

_TOKEN = re.compile(r"\w+|[^\w\s]")
_IMAGE_REF = re.compile(r"<image>|\b(?:in|from|of) (?:the|this) (?:image|picture|photo|photograph)\b|"
                        r"\bthis (?:player|person|man|woman|footballer)\b|\bthe player\b", re.I)


@dataclass
class BuildReport:
    written: dict[str, int] = field(default_factory=dict)  # output file -> records
    dropped: int = 0  # make_text: identity questions
    failed: list[tuple[str, str]] = field(default_factory=list)  # (item id, last reason)

    def line(self) -> str:
        parts = [f"{name}: {n}" for name, n in self.written.items()]
        if self.dropped:
            parts.append(f"dropped identity QAs: {self.dropped}")
        parts.append(f"failed: {len(self.failed)}")
        return ", ".join(parts)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(".!").casefold()


def same_template(answer: str, other: str) -> bool:
    """True when `other` keeps `answer`'s sentence template (only the key fact differs).

    Word/punctuation tokens are aligned; at least half of each side's tokens must be shared,
    lengths may differ by at most a factor of two, and the final punctuation must agree.
    Very short answers (a name, a number) only need a comparable length.
    """
    a, b = _TOKEN.findall(answer), _TOKEN.findall(other)
    if not a or not b:
        return False
    if max(len(a), len(b)) > 2 * min(len(a), len(b)) + 1:
        return False
    if (a[-1] in ".!?") != (b[-1] in ".!?"):
        return False
    if len(a) < 4:
        return True
    matched = sum(block.size for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    return matched >= 0.5 * len(a) and matched >= 0.5 * len(b)


def check_distractors(answer: str, reply: dict) -> list[str]:
    """The three validated distractors of a reply; ValueError naming the problem otherwise."""
    distractors = reply.get("distractors")
    if not isinstance(distractors, list) or len(distractors) != 3:
        raise ValueError("'distractors' must be a list of exactly three strings")
    if any(not isinstance(d, str) or not d.strip() for d in distractors):
        raise ValueError("every distractor must be a non-empty string")
    distractors = [d.strip() for d in distractors]
    if any(_norm(d) == _norm(answer) for d in distractors):
        raise ValueError("a distractor repeats the correct answer; only one option may be correct")
    if len({_norm(d) for d in distractors}) != 3:
        raise ValueError("the three distractors are not all different")
    off = [d for d in distractors if not same_template(answer, d)]
    if off:
        raise ValueError(f"distractor {off[0]!r} does not keep the sentence template of {answer!r}")
    return distractors


def assemble_options(item: OffsideItem, distractors: Sequence[str]) -> tuple[dict[str, str], str]:
    """Place the correct answer at a letter fixed by the item (balanced over A-D, reproducible)."""
    slot = int(hashlib.sha256(f"{item.image}\n{item.question}".encode()).hexdigest(), 16) % 4
    texts = list(distractors)
    texts.insert(slot, item.answer)
    return dict(zip(LETTERS, texts)), LETTERS[slot]


def _name_parts(player: str) -> list[str]:
    return [p for p in re.findall(r"[\w'-]+", player) if len(p) >= 3] or [player]


def check_rewrite(item: OffsideItem, reply: dict) -> str | None:
    """None for an identity question to drop, else the validated text-only question."""
    drop = reply.get("drop")
    if not isinstance(drop, bool):
        raise ValueError("'drop' must be true or false")
    if drop:
        return None
    question = reply.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("'question' must be a non-empty string when drop is false")
    return check_text_question(item.player, question)


def check_text_question(player: str, question: str) -> str:
    """A text-only question, whitespace-normalised; ValueError unless it names the player and shows no image."""
    question = re.sub(r"\s+", " ", question).strip()
    if not any(part.casefold() in question.casefold() for part in _name_parts(player)):
        raise ValueError(f"the rewritten question does not name the player ({player})")
    ref = _IMAGE_REF.search(question)
    if ref:
        raise ValueError(f"the rewritten question still refers to the image ({ref.group(0)!r})")
    return question


def _run_rounds(client: ChatClient, items: Sequence[OffsideItem], prompt: Callable[[OffsideItem, str], str],
                check: Callable[[OffsideItem, dict], object], attempts: int, desc: str, progress: bool):
    """Ask for every item, re-ask rejected ones with the reason; return ({index: value}, {index: reason})."""
    done: dict[int, object] = {}
    reasons: dict[int, str] = {}
    todo = list(range(len(items)))
    for round_no in range(attempts):
        if not todo:
            break
        batch = [[{"role": "user", "content": prompt(items[i], reasons.get(i, ""))}] for i in todo]
        results = client.complete_many(batch, desc=f"{desc} (round {round_no + 1})" if round_no else desc,
                                       progress=progress)
        retry = []
        for i, result in zip(todo, results):
            if not result.ok:
                reasons[i] = f"request failed: {result.error}"
                retry.append(i)
                continue
            try:
                done[i] = check(items[i], parse_json_reply(result.text))
            except ValueError as exc:
                reasons[i] = str(exc)
                retry.append(i)
        todo = retry
    return done, {i: reasons[i] for i in todo}


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)


def _select(root: str | Path, splits: Iterable[str] | None, limit: int | None) -> list[OffsideItem]:
    items = load_items(root)
    wanted = list(splits) if splits else list(SPLITS)
    bad = [s for s in wanted if s not in SPLITS]
    if bad:
        raise ValueError(f"unknown split {bad[0]!r}; choose from {', '.join(SPLITS)}")
    items = [it for it in items if it.split in wanted]
    return items[:limit] if limit is not None else items


def _prepare_out(out: str | Path, names: Iterable[str], overwrite: bool) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out / existing[0]} already exists (pass --overwrite to replace it)")
    return out


def make_mcq(root: str | Path, out: str | Path, client: ChatClient, splits: Iterable[str] | None = None,
             limit: int | None = None, attempts: int = 3, overwrite: bool = False, progress: bool = True) -> BuildReport:
    items = _select(root, splits, limit)
    used = _splits_of(items)
    out = _prepare_out(out, [classification_file(s) for s in used], overwrite)
    done, failed = _run_rounds(
        client, items,
        lambda it, feedback: render(str(PROMPTS / "make_mcq.j2"), question=it.question, answer=it.answer, feedback=feedback),
        lambda it, reply: check_distractors(it.answer, reply), attempts, "make-mcq", progress)
    report = BuildReport(failed=[(items[i].id, why) for i, why in sorted(failed.items())])
    for split in used:
        records = []
        for i, it in enumerate(items):
            if it.split == split and i in done:
                options, correct = assemble_options(it, done[i])
                records.append({"Question": it.question, "Options": options, "Correct_Answer": correct,
                                "images": it.image})
        _write_json(out / classification_file(split), records)
        report.written[classification_file(split)] = len(records)
    return report


def make_text(root: str | Path, out: str | Path, client: ChatClient, splits: Iterable[str] | None = None,
              limit: int | None = None, attempts: int = 3, overwrite: bool = False, progress: bool = True) -> BuildReport:
    items = _select(root, splits, limit)
    out = _prepare_out(out, [chat_file(s, "text") for s in _splits_of(items)], overwrite)
    done, failed = _run_rounds(
        client, items,
        lambda it, feedback: render(str(PROMPTS / "make_text.j2"), player=it.player, question=it.question, answer=it.answer,
                                    feedback=feedback),
        check_rewrite, attempts, "make-text", progress)
    return _write_text(out, items, done, failed)


def make_text_rules(root: str | Path, out: str | Path, splits: Iterable[str] | None = None,
                    limit: int | None = None, overwrite: bool = False) -> BuildReport:
    """make_text without an LLM: `textonly.rewrite_question` on the question as stored, identity
    QAs dropped, every rewrite checked as an LLM's is (a failing one is reported, never written)."""
    items = _select(root, splits, limit)
    out = _prepare_out(out, [chat_file(s, "text") for s in _splits_of(items)], overwrite)
    done, failed = {}, {}
    for i, it in enumerate(items):
        if it.fact == "identity":
            done[i] = None
            continue
        try:
            done[i] = check_text_question(it.player, rewrite_question(it.extra["stored_question"], it.player))
        except ValueError as exc:
            failed[i] = str(exc)
    return _write_text(out, items, done, failed)


def _splits_of(items: Sequence[OffsideItem]) -> list[str]:
    return sorted({it.split for it in items}, key=SPLITS.index)


def _write_text(out: Path, items: Sequence[OffsideItem], done: dict[int, str | None],
                failed: dict[int, str]) -> BuildReport:
    """text_{split}_set.json per split: the rewritten questions (None: an identity QA, dropped)."""
    report = BuildReport(failed=[(items[i].id, why) for i, why in sorted(failed.items())])
    for split in _splits_of(items):
        records = []
        for i, it in enumerate(items):
            if it.split != split or i not in done:
                continue
            if done[i] is None:
                report.dropped += 1
                continue
            records.append({"messages": [{"role": "user", "content": done[i]},
                                         {"role": "assistant", "content": it.answer}],  # answer unchanged
                            "images": it.image})
        _write_json(out / chat_file(split, "text"), records)
        report.written[chat_file(split, "text")] = len(records)
    return report
