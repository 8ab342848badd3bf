"""Hostile archives: each is refused before anything is written outside a
private temp folder (or anything runs), with the rule it broke named."""

from __future__ import annotations

import stat
import zipfile

import pytest

from challenge.bundle.extract import Limits, extract_bundle
from challenge.bundle.verify import verify_bundle
from tests.challenge.bundle.helpers import read_entries, snapshot, write_entries


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2030, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def _verify(path, registry, verifier, **kwargs):
    before = snapshot(verifier.root)
    result = verify_bundle(source=path, registry=registry, isolation=_no_code_may_run, **kwargs)
    after = snapshot(verifier.root)
    assert after == before, "verify wrote or changed something outside its temp folder"
    assert not any(verifier.tmp.iterdir()), "verify left files in the temp folder"
    return result


def _no_code_may_run():
    raise AssertionError("an invalid bundle must be refused before any code runs")


@pytest.mark.parametrize(("name", "reason"), [
    ("../escaped.txt", "zip slip"),
    ("workspace/../../escaped.txt", "zip slip"),
    ("/tmp/escaped.txt", "absolute path"),
    ("C:/escaped.txt", "absolute path"),
    ("workspace\\..\\escaped.txt", "backslash"),
])
def test_paths_leaving_the_bundle_are_refused(tmp_path, registry, verifier, graded_bundle, name, reason):
    entries = list(read_entries(graded_bundle).items()) + [(name, b"pwned")]
    bundle = write_entries(verifier.root / "evil.zip", entries)
    result = _verify(bundle, registry, verifier)
    assert result.exit_code == 2
    [problem] = result.problems
    assert problem.check == "archive" and reason in problem.reason and problem.file == name
    assert not list(verifier.root.rglob("escaped.txt"))


@pytest.mark.parametrize(("mode", "reason"), [
    (stat.S_IFLNK | 0o777, "symlink"),
    (stat.S_IFCHR | 0o666, "device file"),
    (stat.S_IFIFO | 0o666, "device file"),
])
def test_links_and_special_files_are_refused(registry, verifier, graded_bundle, mode, reason):
    link = _entry("workspace/01_attention/link", mode)
    entries = list(read_entries(graded_bundle).items()) + [(link, b"/etc/passwd")]
    bundle = write_entries(verifier.root / "evil.zip", entries)
    result = _verify(bundle, registry, verifier)
    assert result.exit_code == 2
    assert result.problems[0].check == "archive" and reason in result.problems[0].reason
    assert result.problems[0].file == "workspace/01_attention/link"


def test_a_zip_bomb_is_refused_by_its_compression_ratio(registry, verifier, graded_bundle):
    entries = list(read_entries(graded_bundle).items()) + [("workspace/bomb.bin", b"\0" * (20 << 20))]
    bundle = write_entries(verifier.root / "bomb.zip", entries)
    assert bundle.stat().st_size < 1 << 20
    result = _verify(bundle, registry, verifier)
    assert result.exit_code == 2
    assert "zip bomb" in result.problems[0].reason and result.problems[0].file == "workspace/bomb.bin"


def test_size_and_file_count_limits(tmp_path):
    bundle = write_entries(tmp_path / "many.zip", [(f"f{i}.txt", b"x" * 100) for i in range(20)])
    with pytest.raises(Exception) as too_many:
        extract_bundle(bundle, tmp_path / "a", limits=Limits(max_files=10))
    assert "too many files" in too_many.value.problems[0].reason
    with pytest.raises(Exception) as too_big:
        extract_bundle(bundle, tmp_path / "b", limits=Limits(max_total_bytes=1000))
    assert "bytes uncompressed in all" in too_big.value.problems[0].reason
    with pytest.raises(Exception) as one_too_big:
        extract_bundle(bundle, tmp_path / "c", limits=Limits(max_file_bytes=50))
    assert "file too large" in one_too_big.value.problems[0].reason
    assert extract_bundle(bundle, tmp_path / "d") == [f"f{i}.txt" for i in range(20)]


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_duplicate_entries_and_non_zips_are_refused(tmp_path, registry, verifier):
    bundle = write_entries(verifier.root / "dup.zip", [("manifest.json", b"{}"), ("manifest.json", b"{}")])
    assert "duplicate entry" in _verify(bundle, registry, verifier).problems[0].reason
    junk = verifier.root / "junk.challenge.zip"
    junk.write_bytes(b"this is not a zip")
    result = _verify(junk, registry, verifier)
    assert result.exit_code == 2 and "not a readable zip" in result.problems[0].reason


def test_an_exported_folder_with_a_symlink_is_refused(tmp_path, registry, verifier):
    folder = verifier.root / "export"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    (folder / "key").symlink_to(verifier.home / ".ssh" / "id_ed25519")
    result = _verify(folder, registry, verifier)
    assert result.exit_code == 2 and "symlink" in result.problems[0].reason and result.problems[0].file == "key"


def test_a_bundle_re_zipped_without_file_types_is_accepted(tmp_path, graded_bundle):
    """Many tools record a bare permission mode (no file-type bits): that is a plain file, not a device."""
    from challenge.bundle.integrity import open_bundle

    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as bundle:
        for name, data in read_entries(graded_bundle).items():
            bundle.writestr(name, data)  # mode 0o600, no S_IFREG
    with open_bundle(plain) as opened:
        assert opened.problems == []


def test_a_file_and_a_folder_with_the_same_name_are_refused(tmp_path):
    bundle = write_entries(tmp_path / "clash.zip", [("a", b"x"), ("a/b", b"y")])
    with pytest.raises(Exception) as clash:
        extract_bundle(bundle, tmp_path / "out")
    assert "conflicting entries" in clash.value.problems[0].reason
