"""The committed OFFSIDE task YAMLs are exactly what tasks/offside/make_tasks.py writes."""
import shutil

from offside_eval import generated_tasks as generated
from offside_eval.tasks.offside import make_tasks
from offside_eval.tasks_index import builtin_dir


def test_committed_task_files_equal_the_script_output():
    assert make_tasks.HERE == builtin_dir() / "offside"
    assert generated.out_of_sync(make_tasks.HERE, make_tasks.render()) == [], "rerun: python tasks/offside/make_tasks.py"
    # six sets x two modalities x (4 clean tasks + 1 group + 3 reference-protocol tasks + 1 group), plus per
    # unlearning modality (mm, text, blank): truth ratio on 3 sets, correction, memorization, MIA and a group
    assert len(make_tasks.render()) == 6 * 2 * 9 + 3 * 7


def test_a_hand_edited_or_stray_file_is_named(tmp_path):
    for path in (builtin_dir() / "offside").glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    edited = tmp_path / "offside_retain_text_mc.yaml"
    edited.write_text(edited.read_text().replace("role: retain", "role: test"))
    (tmp_path / "offside_extra_mm_gen.yaml").write_text("task: offside_extra_mm_gen\n")
    (tmp_path / "offside_test_mm.yaml").unlink()
    assert generated.out_of_sync(tmp_path, make_tasks.render()) == ["offside_extra_mm_gen.yaml", "offside_retain_text_mc.yaml",
                                                "offside_test_mm.yaml"]
