"""Which of a `file://` backend's metadata sidecars are broken, and that only those go."""

from __future__ import annotations

from pathlib import Path

from azora.state_files import backend_root, broken_sidecars, lock_files, remove_broken_sidecars

PROJECT = "azora-platform"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_only_the_stacks_unparseable_sidecars_are_removed(tmp_path: Path) -> None:
    state = tmp_path / ".pulumi"
    whole = write(state / "stacks" / PROJECT / "local.json.attrs", '{"user.content_type": "application/json"}\n')
    empty = write(state / "stacks" / PROJECT / "local.json.bak.attrs", "")
    cut = write(state / "history" / PROJECT / "local" / "local-1.history.json.attrs", '{"user.content_ty')
    lock = write(state / "locks" / "organization" / PROJECT / "local" / "abc.json.attrs", "[]")
    other_stack = write(state / "stacks" / PROJECT / "staging.json.attrs", "")
    checkpoint = write(state / "stacks" / PROJECT / "local.json", "")  # a blob, never a sidecar
    url = f"file://{tmp_path}?no_tmp_dir=true"

    assert broken_sidecars(url, PROJECT, "local") == sorted([empty, cut, lock])
    removed = remove_broken_sidecars(url, PROJECT, "local")
    assert removed == [
        ".pulumi/history/azora-platform/local/local-1.history.json.attrs",
        ".pulumi/locks/organization/azora-platform/local/abc.json.attrs",
        ".pulumi/stacks/azora-platform/local.json.bak.attrs",
    ]
    assert [p.exists() for p in (whole, empty, cut, lock, other_stack, checkpoint)] == [
        True,
        False,
        False,
        False,
        True,
        True,
    ]
    assert broken_sidecars(url, PROJECT, "local") == []


def test_other_backends_have_no_files_here(tmp_path: Path) -> None:
    assert backend_root("s3://bucket/state") is None
    assert backend_root(f"file://{tmp_path}?metadata=skip") == tmp_path
    assert broken_sidecars("https://api.pulumi.com", PROJECT, "local") == []
    assert lock_files("s3://bucket/state", PROJECT, "local") == []
    lock = write(tmp_path / ".pulumi" / "locks" / "org" / PROJECT / "local" / "x.json", "{}")
    write(tmp_path / ".pulumi" / "locks" / "org" / PROJECT / "local" / "x.json.attrs", "{}")
    assert lock_files(f"file://{tmp_path}", PROJECT, "local") == [lock]
