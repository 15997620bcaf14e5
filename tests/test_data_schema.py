import json
import shutil

import pytest

from offside_data import DataError, OffsideItem, load_items, split_of_image_id
from offside_data.cli import main as data_main


def _copy(mini_root, tmp_path):
    dst = tmp_path / "root"
    shutil.copytree(mini_root, dst)
    return dst


def _edit(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("image_id,split", [(1, "retain"), (2, "retain"), (3, "retain"), (4, "forget"),
                                            (5, "relearn"), (10, "relearn"), (14, "forget"), (16, "retain")])
def test_split_rule(image_id, split):
    assert split_of_image_id(image_id) == split


def test_mini_split_matches_id_rule(mini_items):
    originals = [it for it in mini_items if it.split != "test"]
    assert all(split_of_image_id(it.image_id) == it.split for it in originals)


def test_missing_assistant_names_file_record_field(mini_root, tmp_path):
    root = _copy(mini_root, tmp_path)
    _edit(root / "forget_set.json", lambda d: d[7]["messages"].pop())
    with pytest.raises(DataError) as err:
        load_items(root)
    msg = str(err.value)
    assert "forget_set.json" in msg and "[record 7]" in msg and "'messages'" in msg


def test_bad_correct_letter(mini_root, tmp_path):
    root = _copy(mini_root, tmp_path)
    _edit(root / "classification_retain_set.json", lambda d: d[3].__setitem__("Correct_Answer", "E"))
    with pytest.raises(DataError, match=r"classification_retain_set.json \[record 3\] field 'Correct_Answer'"):
        load_items(root)


def test_three_options_rejected(mini_root, tmp_path):
    root = _copy(mini_root, tmp_path)
    _edit(root / "classification_test_set.json", lambda d: d[0]["Options"].pop("D"))
    with pytest.raises(DataError, match=r"\[record 0\] field 'Options'"):
        load_items(root)


def test_invalid_json_is_reported(mini_root, tmp_path):
    root = _copy(mini_root, tmp_path)
    (root / "relearn_set.json").write_text("[{")
    with pytest.raises(DataError, match="relearn_set.json: invalid JSON"):
        load_items(root)


def test_item_validation_fields():
    good = dict(id="x", player="P", image="a.png", image_id=4, split="forget", info="private",
                question="Q?", answer="A.")
    OffsideItem.from_dict(good)
    with pytest.raises(DataError, match="field 'split'"):
        OffsideItem.from_dict(good | {"split": "train"}, "f.json", 2)
    with pytest.raises(DataError, match=r"f.json \[record 2\] field 'info'"):
        OffsideItem.from_dict(good | {"info": "secret"}, "f.json", 2)
    with pytest.raises(DataError, match="field 'options'"):
        OffsideItem.from_dict(good | {"options": {"A": "x", "B": "x", "C": "y", "D": "z"}, "correct": "A"})
    with pytest.raises(DataError, match="field 'correct'"):
        OffsideItem.from_dict(good | {"correct": "A"})
    with pytest.raises(DataError, match="field 'colour'"):
        OffsideItem.from_dict(good | {"colour": "red"})


def test_release_layout_without_meta_is_inferred(mini_root, tmp_path, mini_items):
    """The real release has no sidecar: player comes from the identity QA, info from keywords."""
    root = _copy(mini_root, tmp_path)
    (root / "offside_meta.json").unlink()
    inferred = {it.id: it for it in load_items(root)}
    for it in mini_items:
        other = inferred[it.id]
        assert (other.player, other.split, other.info, other.options, other.text_question) == (
            it.player, it.split, it.info, it.options, it.text_question)


def test_validate_cli(mini_root, tmp_path, capsys):
    assert data_main(["validate", str(mini_root)]) == 0
    out = capsys.readouterr().out
    assert "forget" in out and "12 players" in out
    assert data_main(["validate", str(tmp_path / "missing")]) == 2
    assert "data root is not a directory" in capsys.readouterr().err
