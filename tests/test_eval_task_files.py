"""The committed OFFSIDE task YAMLs are exactly what benchmarks/offside/tasks/make_tasks.py writes."""
import importlib.util
import shutil

from offside_benchmarks.offside import OFFSIDE

from offside_eval import generated_tasks as generated

_spec = importlib.util.spec_from_file_location("offside_make_tasks", OFFSIDE.tasks_dir / "make_tasks.py")
make_tasks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_tasks)


def test_committed_task_files_equal_the_script_output():
    assert make_tasks.HERE == OFFSIDE.tasks_dir.resolve()
    assert generated.out_of_sync(make_tasks.HERE, make_tasks.render()) == [], \
        "rerun: python benchmarks/offside/tasks/make_tasks.py"
    # six sets x two modalities x (4 clean tasks + 1 group + 3 reference-protocol tasks + 1 group), plus per
    # unlearning modality (mm, text, blank): truth ratio on 3 sets, correction, memorization, MIA and a group
    assert len(make_tasks.render()) == 6 * 2 * 9 + 3 * 7


def test_a_hand_edited_or_stray_file_is_named(tmp_path):
    for path in OFFSIDE.tasks_dir.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    edited = tmp_path / "offside_retain_text_mc.yaml"
    edited.write_text(edited.read_text().replace("role: retain", "role: test"))
    (tmp_path / "offside_extra_mm_gen.yaml").write_text("task: offside_extra_mm_gen\n")
    (tmp_path / "offside_test_mm.yaml").unlink()
    assert generated.out_of_sync(tmp_path, make_tasks.render()) == ["offside_extra_mm_gen.yaml", "offside_retain_text_mc.yaml",
                                                "offside_test_mm.yaml"]
