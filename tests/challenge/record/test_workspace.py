import pytest

from challenge.errors import ChallengeError, WorkspaceExists, WorkspaceNotFound
from challenge.record.workspace import find_workspace, init_workspace


def test_handle_is_validated(tmp_path):
    with pytest.raises(ChallengeError, match="handle"):
        init_workspace(handle="../evil", path=tmp_path / "x")


def test_init_twice_is_refused(tmp_path):
    init_workspace(handle="ada", path=tmp_path / "ws")
    with pytest.raises(WorkspaceExists):
        init_workspace(handle="ada", path=tmp_path / "ws")


def test_found_from_inside_a_subfolder(tmp_path):
    ws = init_workspace(handle="ada", base=tmp_path)
    inner = ws.root / "01_attention"
    inner.mkdir()
    assert find_workspace(cwd=inner).root == ws.root
    assert find_workspace(cwd=tmp_path).root == ws.root  # the single one under ./submissions


def test_corrupt_config_is_explained(tmp_path):
    ws = init_workspace(handle="ada", path=tmp_path / "ws")
    (ws.root / "workspace.json").write_text("{not json")
    with pytest.raises(ChallengeError, match="unreadable"):
        find_workspace(explicit=ws.root)


def test_missing_workspace(tmp_path):
    with pytest.raises(WorkspaceNotFound):
        find_workspace(cwd=tmp_path)


def test_found_from_inside_submissions(tmp_path, monkeypatch):
    """Run from ``submissions/`` itself: the workspace below it, never "init a new one"."""
    monkeypatch.delenv("CHALLENGE_WORKSPACE", raising=False)
    ws = init_workspace(handle="ada", base=tmp_path)
    assert find_workspace(cwd=tmp_path / "submissions").root == ws.root


def test_several_workspaces_name_the_option_to_pass_from_where_you_are(tmp_path, monkeypatch):
    monkeypatch.delenv("CHALLENGE_WORKSPACE", raising=False)
    init_workspace(handle="ada", base=tmp_path)
    init_workspace(handle="bob", base=tmp_path)
    for cwd, path in ((tmp_path, "submissions/ada"), (tmp_path / "submissions", "ada")):
        with pytest.raises(WorkspaceNotFound) as several:
            find_workspace(cwd=cwd)
        assert "Several workspaces" in several.value.message and "bob" in several.value.message
        assert f"--workspace {path} " in several.value.hint and "challenge init" not in several.value.hint
