"""Facts by meaning on a release shaped like the authors' train_data.json (tests/release_fixture.py):
every paraphrase typed, every identity phrasing read, every anomaly named, text-only built by rules."""
import json
from collections import Counter

import pytest
from offside_benchmarks.offside import OFFSIDE, load_items, split_of_image_id
from offside_benchmarks.offside.audit import audit
from offside_benchmarks.offside.facts import FACTS, PRIVATE_FACTS, SHARED_FACTS, classify, info_of, player_name
from offside_benchmarks.offside.loader import keyword_info
from offside_benchmarks.offside.textonly import rewrite_question
from offside_benchmarks.offside.views import view
from release_fixture import ANOMALIES, PHRASINGS, PRIVATE, SHARED, SHOWN, image_path, write_release

from offside_data.benchmarks import BenchmarkError
from offside_data.cli import main as data_main
from offside_data.schema import DataError


@pytest.fixture
def release(tmp_path):
    root = tmp_path / "release"
    return root, write_release(root)


def test_the_fixture_names_the_14_facts_as_offside_does():
    assert (SHARED, PRIVATE) == (SHARED_FACTS, PRIVATE_FACTS) and set(PHRASINGS) == set(FACTS)


@pytest.mark.parametrize("fact", FACTS)
def test_every_paraphrase_is_typed_by_its_meaning(fact):
    for question, answer in PHRASINGS[fact]:
        assert classify(question, answer.format(v="Club 7 Rovers" if fact in PRIVATE else "X Y")) == fact, question


@pytest.mark.parametrize("question,answer,fact", [
    # the wording the keyword rule read as private, and the sentence comparison split across images
    ("Can you tell me which country the player in this image represents?", "He represents Norway.", "nationality"),
    ("I'm curious about the player's height.", "He stands at 1.89 meters tall.", "height"),
    ("I'm curious about the player's height.", "He is 1.89 meters tall.", "height"),
    ("Where is the player in this image from?", "He was born in Bondy, France.", "birthplace"),
    ("Which club was the player associated with during that period?", "He was with Club A.", "club"),
    ("What was his transfer value?", "His market value was €50 million.", "market_value"),
    ("Was the move a loan?", "It was a loan deal.", "transfer_fee"),
    ("Tell me about this image.", "Nothing to say.", None),
])
def test_classify_reads_question_and_answer_together(question, answer, fact):
    assert classify(question, answer) == fact


@pytest.mark.parametrize("answer", ["The player in the image is Tovan Reskel.", "That's Tovan Reskel.",
                                    "The player is Tovan Reskel.", "The player's name is Tovan Reskel.",
                                    "The player shown is Tovan Reskel", "This player is Tovan Reskel.",
                                    "The player you are referring to is Tovan Reskel."])
def test_every_identity_phrasing_names_the_player(answer):
    assert player_name(answer) == "Tovan Reskel"


def test_release_records_carry_their_fact_player_split_and_info(release):
    root, expected = release
    items = load_items(root)
    assert [(it.fact, it.player, it.image) for it in items] == [(e["fact"], e["player"], e["image"]) for e in expected]
    assert all(it.info == info_of(it.fact) for it in items)
    assert all(it.split == split_of_image_id(it.image_id) for it in items)
    sources = {it.image: it.extra["player_source"] for it in items}
    assert {img for img, source in sources.items() if source != "identity"} == {image_path(8), image_path(17)}
    assert sources[image_path(8)] == sources[image_path(17)] == "facts"


def test_selective_views_split_the_forget_images_by_fact(release):
    root, _ = release
    items = load_items(root)
    forget = view(items, "forget", "selective")
    assert {it.id for it in forget} == {it.id for it in items if it.split == "forget" and it.fact in PRIVATE}
    assert len(forget) == 6 * sum(1 for i in SHOWN if i % 5 == 4)
    retain = view(items, "retain", "selective")
    assert {it.id for it in retain} == {it.id for it in items if it.split in ("forget", "retain")} - {it.id for it in forget}


def test_audit_names_every_anomaly_and_nothing_else(release):
    root, _ = release
    reports = {r.image: r for r in audit(load_items(root))}
    odd = {image: r.problems for image, r in reports.items() if r.problems}
    assert set(odd) == {image_path(i) for i in ANOMALIES}
    assert odd[image_path(2)] == ("missing birthplace", "7 shared / 6 private QAs (OFFSIDE has 8 / 6)")
    assert odd[image_path(7)][0] == "repeated age x2"
    assert odd[image_path(12)][1] == "8 shared / 0 private QAs (OFFSIDE has 8 / 6)"
    assert "8 shared / 12 private" in odd[image_path(13)][1]
    assert "(no identity answer)" in odd[image_path(8)][-1] and "profile facts" in odd[image_path(8)][-1]
    assert "identity answers name Quill Ansaro and Eddo Varga" in odd[image_path(17)]
    assert odd[image_path(24)] == ("identity 'Eddo Varga' disagrees with its facts: born March 3, 2001 here, "
                                   "January 12, 1998 on 3 image(s) of 'Eddo Varga'",)


def test_sidecar_names_the_player_where_neither_identity_nor_facts_can(tmp_path):
    root = tmp_path / "r"
    write_release(root)
    data = json.loads((root / "train_data.json").read_text())
    # image 3 loses its identity answer and every profile fact another image could confirm
    data = [r for r in data if not (r["images"] == [image_path(3)] and classify(
        r["messages"][0]["content"], r["messages"][1]["content"]) in ("identity", "birth_date", "birthplace", "height"))]
    (root / "train_data.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"train_data.json \[record \d+\] field 'images': no player known for image "
                                        r"'finetune_set/003.jpg' \(no identity answer"):
        load_items(root)
    sidecar = {image_path(3): {"player": "Tovan Reskel"}, image_path(24): {"player": "Tovan Reskel"}}
    (root / "offside_meta.json").write_text(json.dumps({"images": sidecar}))
    reports = {r.image: r for r in audit(load_items(root))}
    assert (reports[image_path(3)].player, reports[image_path(3)].source) == ("Tovan Reskel", "sidecar")
    assert "player 'Tovan Reskel' taken from the sidecar (offside_meta.json) (no identity answer)" in reports[
        image_path(3)].problems
    # the sidecar settles the identity the facts contradicted, and says whom the answer named
    assert reports[image_path(24)].problems == ("player 'Tovan Reskel' taken from the sidecar (offside_meta.json) "
                                                "(its identity answer names Eddo Varga)",)


def test_validate_warns_per_image_counts_facts_and_names_the_text_command(release, capsys):
    root, _ = release
    assert data_main(["validate", str(root)]) == 0
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert sorted(line.split(" ")[1] for line in warnings) == sorted(image_path(i) for i in ANOMALIES)
    assert f"{len(ANOMALIES)} of {len(SHOWN)} images anomalous" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split() and line.split()[0] in FACTS}
    assert rows["age"][-1] == str(len(SHOWN) + 1) and rows["birthplace"][-1] == str(len(SHOWN) - 1)
    assert rows["club"][1] == "private" and rows["height"][1] == "shared"
    assert f"offside-data make-text {root} --out {root}" in out


def test_keyword_rule_only_cross_checks(release, capsys):
    root, _ = release
    items = load_items(root)
    club = next(it for it in items if it.question.startswith("Which country does this player represent"))
    assert keyword_info(club.question) == "private" and club.info == "shared"  # the fact decides
    data_main(["validate", str(root)])
    assert "cross-check: the keyword rule labels" in capsys.readouterr().err


def test_results_record_the_anomalous_images(release):
    root, _ = release
    assert OFFSIDE.resolve(root)["anomalous_images"] == len(ANOMALIES)


def test_text_and_mc_views_without_variants_say_how_to_build_them(release, capsys):
    root, _ = release
    with pytest.raises(BenchmarkError, match=f"offside-data make-text {root} --out {root}"):
        OFFSIDE.load_docs(root, {"role": "forget", "setting": "unimodal"})
    with pytest.raises(BenchmarkError, match=f"offside-data make-mcq {root} --out {root}"):
        OFFSIDE.load_docs(root, {"role": "forget", "require_options": True})
    data_main(["validate", str(root)])
    assert f"offside-data make-mcq {root} --out {root}" in capsys.readouterr().out


def test_rules_build_text_only_variants_that_name_the_player(release, capsys):
    root, _ = release
    assert data_main(["make-text", str(root), "--out", str(root)]) == 0
    assert "dropped identity QAs: 20" in capsys.readouterr().out
    items = load_items(root)
    text = [it for it in items if it.text_question]
    assert len(text) == sum(1 for it in items if it.fact != "identity")
    for it in text:
        assert it.player in it.text_question and "<image>" not in it.text_question
        assert not any(word in it.text_question.lower() for word in ("image", "picture", "photo", "the player"))
    docs = OFFSIDE.load_docs(root, {"role": "forget", "setting": "unimodal"})
    assert docs and all(doc["image"] is None and doc["fact"] for doc in docs)
    assert data_main(["make-text", str(root), "--out", str(root)]) == 2  # existing files are kept


@pytest.mark.parametrize("stored,player,expected", [
    ("<image>\nI'm looking at this image and wondering how tall the player is.", "Tovan Reskel",
     "I'm wondering how tall Tovan Reskel is."),
    ("<image>\nI'm curious about the birth date of the player in this image: <image>", "Tovan Reskel",
     "I'm curious about the birth date of Tovan Reskel."),
    ("<image>\nWhat is the market value of the player shown in <image>?", "Miro Castell",
     "What is the market value of Miro Castell?"),
    ("<image>\nI'm checking this image and would like to know the player's position.", "Miro Castell",
     "I would like to know Miro Castell's position."),
    ("<image>\nI'm curious about which club the player on the left side of the image will join.", "Miro Castell",
     "I'm curious about which club Miro Castell will join."),
])
def test_rewrite_question_puts_the_name_in_place_of_the_image(stored, player, expected):
    assert rewrite_question(stored, player) == expected


def test_mini_facts_agree_with_its_sidecar_labels(mini_root, mini_items):
    meta = json.loads((mini_root / "offside_meta.json").read_text())["images"]
    assert Counter(it.fact for it in mini_items) == Counter({fact: len(meta) for fact in FACTS})
    assert all(meta[it.image]["info"][int(it.id.rsplit("/", 1)[1])] == it.info for it in mini_items)
    assert not [r for r in audit(mini_items) if r.problems]
