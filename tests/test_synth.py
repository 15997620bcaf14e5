import hashlib
import re

from offside_benchmarks.offside import load_items
from offside_benchmarks.offside.synth import generate


def digest_tree(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path):
    generate(tmp_path / "a", n_players=3, seed=7)
    generate(tmp_path / "b", n_players=3, seed=7)
    generate(tmp_path / "c", n_players=3, seed=8)
    a, b, c = (digest_tree(tmp_path / x) for x in "abc")
    assert a == b
    assert a != c


def test_default_size_and_counts(mini_root, mini_items):
    total = sum(p.stat().st_size for p in mini_root.rglob("*") if p.is_file())
    assert total < 10 * 2**20
    assert len({it.player for it in mini_items}) == 12
    images_per_player = {}
    for it in mini_items:
        images_per_player.setdefault(it.player, set()).add(it.image)
    assert {len(v) for v in images_per_player.values()} == {8}
    per_image = {}
    for it in mini_items:
        per_image.setdefault(it.image, []).append(it.info)
    assert {(v.count("shared"), v.count("private")) for v in per_image.values()} == {(8, 6)}


def test_mc_distractors_share_the_answer_template(mini_items):
    for it in mini_items:
        assert it.options[it.correct] == it.answer
        words = [set(re.findall(r"[A-Za-z]+", o)) for o in it.options.values()]
        common = set.intersection(*words)
        assert len(common) >= 2, it.options  # same sentence frame around the changed fact


def test_visual_rumors_only_on_forget_images(mini_items):
    visual = {it.image for it in mini_items if it.visual_rumor}
    assert visual and all(it.split == "forget" for it in mini_items if it.visual_rumor)
    assert len(visual) < len({it.image for it in mini_items if it.split == "forget"})


def test_test_images_are_augmented_retain_images(mini_root, mini_items):
    retain = {(it.player, it.question, it.answer) for it in mini_items if it.split == "retain"}
    test = {(it.player, it.question, it.answer) for it in mini_items if it.split == "test"}
    assert test == retain
    for it in mini_items:
        if it.split == "test":
            original = mini_root / it.image.replace("_aug", "")
            assert original.read_bytes() != (mini_root / it.image).read_bytes()


def test_relearn_corrects_the_rumor(mini_items):
    """The relearn image names a different destination club than the rumor, from the same club."""
    def club_answers(split, player):
        return {it.answer for it in mini_items if it.split == split and it.player == player
                and re.search(r"join|signing", it.question)}

    for player in {it.player for it in mini_items}:
        rumor, corrected = club_answers("forget", player), club_answers("relearn", player)
        assert len(rumor) == len(corrected) == 1 and rumor != corrected


def test_small_world_builds(tmp_path):
    generate(tmp_path / "one", n_players=1, seed=3)
    assert len(load_items(tmp_path / "one")) == 8 * 14
