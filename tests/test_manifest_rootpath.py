"""Change manifests from stat snapshots, and path resolution confined to the target root."""

from __future__ import annotations

import os
from pathlib import Path

from rescuetui.core.manifest import compare, snapshot
from rescuetui.core.rootpath import resolve_in_root


def test_manifest_sees_added_removed_and_modified(tmp_path: Path) -> None:
    root = tmp_path
    (root / "etc/sub").mkdir(parents=True)
    (root / "etc/keep").write_text("same")
    (root / "etc/change").write_text("old")
    (root / "etc/sub/gone").write_text("x")
    before = snapshot(root, ("/etc",))
    (root / "etc/change").write_text("new content")
    (root / "etc/sub/gone").unlink()
    (root / "etc/sub/added").write_text("y")
    os.chmod(root / "etc/keep", 0o600)
    diff = compare(before, snapshot(root, ("/etc",)))
    assert diff.added == ["/etc/sub/added"]
    assert diff.removed == ["/etc/sub/gone"]
    assert diff.modified == ["/etc/change", "/etc/keep"]


def test_resolve_in_root_confines_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/lib").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")
    (root / "run").mkdir()
    (root / "etc").mkdir()
    (root / "etc/resolv.conf").symlink_to("/run/systemd/resolve/stub-resolv.conf")
    (root / "escape").symlink_to("../../../../..")
    assert resolve_in_root(root, "/lib/modules") == root / "usr/lib/modules"
    assert resolve_in_root(root, "/etc/resolv.conf") == root / "run/systemd/resolve/stub-resolv.conf"
    assert resolve_in_root(root, "/escape/etc/passwd") == root / "etc/passwd"
    assert resolve_in_root(root, "/../../etc/shadow") == root / "etc/shadow"
    assert resolve_in_root(root, "/etc/resolv.conf", follow_last=False) == root / "etc/resolv.conf"


def test_symlink_loops_are_an_error(tmp_path: Path) -> None:
    import pytest

    from rescuetui.core.errors import RescueError

    (tmp_path / "a").symlink_to("/b")
    (tmp_path / "b").symlink_to("/a")
    with pytest.raises(RescueError, match="Too many"):
        resolve_in_root(tmp_path, "/a/x")
