import json
import shutil

import pytest
from offside_benchmarks.offside import OffsideItem, load_items, split_of_image_id

from offside_data.cli import main as data_main
from offside_data.schema import DataError


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
    assert OffsideItem.from_dict(good | {"fact": "transfer_fee"}).fact == "transfer_fee"
    with pytest.raises(DataError, match=r"f.json \[record 2\] field 'fact'"):
        OffsideItem.from_dict(good | {"fact": "shoe size"}, "f.json", 2)
    with pytest.raises(DataError, match="field 'colour'"):
        OffsideItem.from_dict(good | {"colour": "red"})


def test_release_layout_without_meta_is_inferred(mini_root, tmp_path, mini_items):
    """The real release has no sidecar: player comes from the identity QA, info from the fact."""
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


def test_invalid_mc_record_is_blamed_on_the_classification_file(mini_root, tmp_path):
    root = _copy(mini_root, tmp_path)
    _edit(root / "classification_forget_set.json", lambda d: d[5]["Options"].__setitem__("B", d[5]["Options"]["A"]))
    with pytest.raises(DataError) as err:
        load_items(root)
    assert str(err.value).startswith(f"{root / 'classification_forget_set.json'} [record 5] field 'Options'")


@pytest.mark.parametrize("damage,problem", [
    (lambda p: p.unlink(), "image not found"),
    (lambda p: p.write_bytes(b""), "image file is empty (0 bytes)"),
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "not a readable image"),
    (lambda p: p.write_bytes(b"GIF89a but not really an image"), "not a readable image"),
])
def test_validate_checks_every_image_header(mini_root, tmp_path, capsys, damage, problem):
    root = _copy(mini_root, tmp_path)
    damage(root / "images" / "0009.png")
    assert data_main(["validate", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"images/0009.png: {problem}" in err


@pytest.mark.parametrize("mode", ["CMYK", "P", "RGBA", "LA", "I;16", "I", "F", "1"])
def test_images_in_odd_modes_load_as_rgb(tmp_path, mode):
    from PIL import Image

    from offside_data.chat import load_image

    img = Image.new(mode, (40, 30))
    img.putpixel((3, 4), {"CMYK": (0, 255, 0, 0), "P": 7, "RGBA": (10, 20, 30, 255), "LA": (90, 255),
                          "I;16": 60000, "I": 60000, "F": 2.5, "1": 1}[mode])
    suffix = ".tiff" if mode in ("I;16", "I", "F", "CMYK") else ".png"
    if mode == "P":
        img.info["transparency"] = 0
    img.save(tmp_path / f"x{suffix}")
    out = load_image(str(tmp_path), f"x{suffix}")
    assert out.mode == "RGB" and out.size == (256, 256)
    if mode in ("I;16", "I", "F"):  # the bright pixel is scaled to white, not clipped to 255 of 65535
        assert load_image(str(tmp_path), f"x{suffix}", None).getpixel((3, 4)) == (255, 255, 255)
