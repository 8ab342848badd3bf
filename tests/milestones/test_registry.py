import shutil

import pytest

from milestones import MilestoneFormatError, load_registry
from milestones.registry import MILESTONES_DIR, UnknownMilestone


def test_the_six_core_milestones_with_the_challenges_targets():
    registry = load_registry()
    core = registry.core()
    assert [m.folder for m in core] == ["01_attention", "02_multihead", "03_block", "04_classifier", "05_bert",
                                        "06_gpt"]
    group = [m for m in core if m.target_group == "core_attention"]
    assert sum(m.target_hours.low for m in group) == 5 and sum(m.target_hours.high for m in group) == 10
    assert registry.groups.groups["core_attention"].target_hours.low == 5
    assert registry.get("classifier").target_hours.high == 5
    assert (registry.get("bert").target_hours.low, registry.get("bert").target_hours.high) == (5, 10)
    assert (registry.get("gpt").target_hours.low, registry.get("gpt").target_hours.high) == (5, 10)


def test_lookup_by_id_folder_number_and_did_you_mean():
    registry = load_registry()
    assert registry.get("02_multihead").id == "multihead"
    assert registry.get("3").id == "block"
    assert registry.get("GPT").id == "gpt"
    with pytest.raises(UnknownMilestone) as caught:
        registry.get("atention")
    assert caught.value.suggestions[0] == "attention"  # then attention_viz


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "milestones"
    shutil.copytree(MILESTONES_DIR, root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return root


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_broken_yaml_names_the_file(tree):
    path = tree / "02_multihead" / "milestone.yaml"
    path.write_text("id: [unclosed\n")
    with pytest.raises(MilestoneFormatError) as caught:
        load_registry(tree)
    assert caught.value.path == path and "not valid YAML" in str(caught.value)


def test_wrong_field_type_names_the_field(tree):
    _edit(tree / "03_block" / "milestone.yaml", "target_hours: {low: 1.5, high: 3}",
          "target_hours: {low: soon, high: 3}")
    with pytest.raises(MilestoneFormatError) as caught:
        load_registry(tree)
    assert "03_block" in str(caught.value.path)
    assert any(p.startswith("target_hours.low") for p in caught.value.problems)


def test_unknown_field_is_called_a_typo(tree):
    _edit(tree / "01_attention" / "milestone.yaml", "learner_file:", "lerner_file: x.py\nlearner_file:")
    with pytest.raises(MilestoneFormatError) as caught:
        load_registry(tree)
    assert any("lerner_file" in p and "typo" in p for p in caught.value.problems)


def test_newer_format_version_asks_for_an_upgrade(tree):
    _edit(tree / "06_gpt" / "milestone.yaml", "format_version: 1", "format_version: 99")
    with pytest.raises(MilestoneFormatError) as caught:
        load_registry(tree)
    assert caught.value.newer and "newer" in str(caught.value)


def test_band_must_be_ordered_and_group_known(tree):
    _edit(tree / "05_bert" / "milestone.yaml", "target_hours: {low: 5, high: 10}", "target_hours: {low: 10, high: 5}")
    with pytest.raises(MilestoneFormatError, match="below low"):
        load_registry(tree)


def test_unknown_prerequisite_is_refused(tree):
    _edit(tree / "03_block" / "milestone.yaml", "prerequisites: [multihead]", "prerequisites: [multihed]")
    with pytest.raises(MilestoneFormatError, match="multihed"):
        load_registry(tree)
