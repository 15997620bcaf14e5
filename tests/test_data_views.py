from collections import Counter

import pytest
from offside_benchmarks.offside import view


def per_player(items):
    return set(Counter(it.player for it in items).values())


def test_complete_counts(mini_items):
    assert per_player(view(mini_items, "forget")) == {14}
    assert per_player(view(mini_items, "retain")) == {3 * 14}
    assert per_player(view(mini_items, "test")) == {3 * 14}
    assert per_player(view(mini_items, "relearn")) == {14}
    assert len({it.image for it in view(mini_items, "forget")}) == 12


def test_selective_moves_shared_forget_qas_to_retain(mini_items):
    forget = view(mini_items, "forget", "selective")
    retain = view(mini_items, "retain", "selective")
    assert per_player(forget) == {6}
    assert all(it.info == "private" and it.split == "forget" for it in forget)
    assert per_player(retain) == {3 * 14 + 8}
    assert sum(it.split == "forget" for it in retain) == 8 * 12
    assert not {it.id for it in forget} & {it.id for it in retain}


def test_unimodal_is_text_only(mini_items):
    forget = view(mini_items, "forget", "unimodal")
    assert per_player(forget) == {13}  # the identity question has no text-only form
    assert all(it.image is None for it in forget)
    for it in forget:
        assert it.player in it.question and "image" not in it.question
    assert view(mini_items, "retain", "complete", "text") == view(mini_items, "retain", "unimodal")


def test_selective_text_modality(mini_items):
    forget = view(mini_items, "forget", "selective", "text")
    assert per_player(forget) == {6} and all(it.image is None for it in forget)


def test_bad_setting_names(mini_items):
    with pytest.raises(ValueError, match="unknown setting 'partial'"):
        view(mini_items, "forget", "partial")
    with pytest.raises(ValueError, match="unknown role"):
        view(mini_items, "train")
