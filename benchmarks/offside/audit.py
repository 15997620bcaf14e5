"""Who each image shows, and what is wrong with each image of a release.

The release names the player only in an image's identity answer. An image with none (or two
different ones) gets its player from the sidecar or from its profile facts: the player whose other
images state the same birth date / birthplace / height. `audit` then names every anomaly per image
(a fact missing or repeated, a count other than 8 shared / 6 private, an unrecognised QA, an
identity its facts contradict); anomalies are reported, never repaired or dropped.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .facts import FACTS, PRIVATE_FACTS, SHARED_FACTS, player_name, profile_value
from .schema import DataError

PER_IMAGE = (len(SHARED_FACTS), len(PRIVATE_FACTS))  # OFFSIDE: 8 shared and 6 private QAs per image
_SOURCES = {"sidecar": "the sidecar (offside_meta.json)", "facts": "the other images stating the same profile facts"}
_PROFILE = ("birth_date", "birthplace", "height")  # the facts that tell two players apart


@dataclass(frozen=True)
class QA:
    """One QA of a release as the player resolution needs it (source/index name it in errors)."""
    source: str
    index: int
    image: str
    fact: str | None
    answer: str


@dataclass(frozen=True)
class ImageReport:
    image: str
    player: str
    source: str  # identity | sidecar | facts
    problems: tuple[str, ...]


def identity_names(answers: Iterable[str]) -> list[str]:
    """The distinct names an image's identity answers state, in order."""
    return list(dict.fromkeys(name for name in map(player_name, answers) if name))


def _names_by_image(qas: Sequence[QA]) -> dict[str, list[str]]:
    """image -> the distinct names its identity answers state (every image, [] where none)."""
    answers: dict[str, list[str]] = {}
    for qa in qas:
        answers.setdefault(qa.image, [])
        if qa.fact == "identity":
            answers[qa.image].append(qa.answer)
    return {image: identity_names(found) for image, found in answers.items()}


def _profiles(qas: Sequence[QA]) -> dict[str, set[tuple[str, str]]]:
    """image -> {(fact, value)} of its profile facts."""
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for qa in qas:
        value = profile_value(qa.fact, qa.answer) if qa.fact in _PROFILE else None
        if value:
            out[qa.image].add((qa.fact, value))
    return out


def _by_facts(profile: set[tuple[str, str]], known: Mapping[str, set[tuple[str, str]]],
              candidates: Sequence[str]) -> str | None:
    """The one player (among candidates, if any) whose images share the most profile facts (>= 2)."""
    votes = Counter({player: len(profile & facts) for player, facts in known.items()
                     if not candidates or player in candidates})
    best = votes.most_common(2)
    if not best or best[0][1] < 2 or (len(best) > 1 and best[1][1] == best[0][1]):
        return None
    return best[0][0]


def resolve_players(qas: Sequence[QA], sidecar: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """image -> (player, how it was known); DataError names an image no rule resolves."""
    names = _names_by_image(qas)
    profiles = _profiles(qas)
    known: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for image, found in names.items():
        if len(found) == 1:
            known[found[0]] |= profiles[image]
    first = {qa.image: qa for qa in reversed(qas)}
    out = {}
    for image, found in names.items():
        if image in sidecar:
            out[image] = (sidecar[image], "identity" if found == [sidecar[image]] else "sidecar")
        elif len(found) == 1:
            out[image] = (found[0], "identity")
        elif (player := _by_facts(profiles[image], known, found)) is not None:
            out[image] = (player, "facts")
        else:
            why = f"identity answers name {' and '.join(found)}" if found else "no identity answer"
            raise DataError(first[image].source, first[image].index, "images",
                            f"no player known for image {image!r} ({why}; no sidecar entry, no other image "
                            f"shares its profile facts)")
    return out


def _fact_problems(facts: Counter) -> list[str]:
    problems = []
    missing = [f for f in FACTS if not facts[f]]
    repeated = [f"{f} x{facts[f]}" for f in FACTS if facts[f] > 1]
    if missing:
        problems.append("missing " + ", ".join(missing))
    if repeated:
        problems.append("repeated " + ", ".join(repeated))
    if facts[None]:
        problems.append(f"{facts[None]} QA(s) of no known fact")
    counts = (sum(facts[f] for f in SHARED_FACTS), sum(facts[f] for f in PRIVATE_FACTS))
    if counts != PER_IMAGE:
        problems.append(f"{counts[0]} shared / {counts[1]} private QAs (OFFSIDE has {PER_IMAGE[0]} / {PER_IMAGE[1]})")
    return problems


def _identity_conflicts(images: dict[str, tuple[str, set[tuple[str, str]]]]) -> dict[str, str]:
    """image -> why its identity disagrees with the birth dates other images of that name state."""
    by_player: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for image, (player, profile) in images.items():
        born = next((value for fact, value in profile if fact == "birth_date"), None)
        if born:
            by_player[player][born].append(image)
    out = {}
    for player, groups in by_player.items():
        if len(groups) < 2:
            continue
        top = max(len(v) for v in groups.values())
        majority = [born for born, imgs in groups.items() if len(imgs) == top]
        for born, imgs in groups.items():
            if len(majority) > 1 or born != majority[0]:
                others = "; ".join(f"{b} on {len(v)} image(s)" for b, v in groups.items() if b != born)
                for image in imgs:
                    out[image] = f"identity {player!r} disagrees with its facts: born {born} here, {others} of {player!r}"
    return out


def _against(player: str, names: list[str]) -> str:
    if not names:
        return " (no identity answer)"
    return "" if player in names else f" (its identity answer names {' and '.join(names)})"


def audit(items: Sequence) -> list[ImageReport]:
    """One report per image (sorted by path), problems empty where it is sound."""
    facts: dict[str, Counter] = defaultdict(Counter)
    qas, players, sources = [], {}, {}
    for it in items:
        facts[it.image][it.fact] += 1
        players[it.image] = it.player
        sources[it.image] = it.extra.get("player_source", "identity")
        qas.append(QA("", 0, it.image, it.fact, it.answer))
    names_of = _names_by_image(qas)
    profiles = _profiles(qas)
    conflicts = _identity_conflicts({img: (players[img], profiles[img]) for img in players})
    reports = []
    for image, player in sorted(players.items()):
        source, names = sources[image], names_of[image]
        problems = _fact_problems(facts[image])
        if len(names) > 1:
            problems.append(f"identity answers name {' and '.join(names)}")
        if source != "identity":
            problems.append(f"player {player!r} taken from {_SOURCES[source]}" + _against(player, names))
        if image in conflicts:
            problems.append(conflicts[image])
        reports.append(ImageReport(image, player, source, tuple(problems)))
    return reports
