"""ConfinedRoot on a real directory tree with hostile links: every access stays inside the root,
with openat2 and with the component-by-component walk used where a kernel lacks it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from rescuetui.core import confined
from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.errors import RescueError


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "openat2" and not confined.has_openat2():
        pytest.skip("this kernel has no openat2")
    monkeypatch.setattr(confined, "_openat2_works", request.param == "openat2")
    yield request.param


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("HOST")
    (root / "etc").mkdir(parents=True)
    (root / "etc/fstab").write_text("inside\n")
    (root / "run").mkdir()
    (root / "run/real").write_text("resolved inside\n")
    (root / "etc/resolv.conf").symlink_to("/run/real")  # absolute, healthy
    (root / "etc/abs-out").symlink_to(host / "secret")
    (root / "etc/rel-out").symlink_to("../../../../../../.." + str(host / "secret"))
    (root / "var").mkdir()
    (root / "var/log").symlink_to(str(host))  # a directory link out
    os.mkfifo(root / "etc/fifo")
    (root / "loop").symlink_to("loop")
    return root, host


def test_reads_stay_inside(resolver: str, tree: tuple[Path, Path]) -> None:
    root, host = tree
    r = ConfinedRoot(root)
    assert r.read("/etc/fstab") == b"inside\n"
    assert r.read("/etc/resolv.conf") == b"resolved inside\n"
    assert r.resolve("/etc/resolv.conf") == "/run/real"
    assert r.read("/etc/abs-out") is None
    assert r.read("/etc/rel-out") is None
    assert r.read("/var/log/secret") is None
    assert r.listdir("/var/log") == []
    assert r.read("/etc/fifo") is None  # not a regular file: never opened for reading
    assert r.read("/loop") is None
    assert r.read("/etc/fstab", limit=3) == b"ins"
    assert r.is_symlink("/etc/abs-out") and not r.exists("/etc/abs-out")
    assert r.readlink("/etc/abs-out") == str(host / "secret")


def test_writes_stay_inside(resolver: str, tree: tuple[Path, Path]) -> None:
    root, host = tree
    r = ConfinedRoot(root)
    r.write_atomic("/etc/fstab", b"new\n", mode=0o640)
    assert (root / "etc/fstab").read_bytes() == b"new\n"
    assert stat.S_IMODE((root / "etc/fstab").stat().st_mode) == 0o640
    # Through the link out: created inside the target's own /var... which does not exist
    # as a directory inside, so nothing is written anywhere.
    with pytest.raises(OSError):
        r.write_atomic("/var/log/new", b"x")
    assert not (host / "new").exists()
    with pytest.raises(RescueError):
        r.write_atomic("/etc/abs-out", b"x")
    assert (host / "secret").read_text() == "HOST"
    with pytest.raises(OSError):
        r.chmod("/etc/abs-out", 0o777)
    assert stat.S_IMODE((host / "secret").stat().st_mode) != 0o777
    with pytest.raises(OSError):
        r.create("/etc/abs-out", b"x")
    r.makedirs("/var2/log/rescuetui")
    assert (root / "var2/log/rescuetui").is_dir()
    journal = root.parent / "journal"
    (journal / "out").mkdir(parents=True)
    (journal / "events.jsonl").write_text("{}\n")
    (journal / "out/1.log").write_text("x\n")
    r.copy_in(journal, "/var2/log/rescuetui/s1")
    assert (root / "var2/log/rescuetui/s1/out/1.log").read_text() == "x\n"
    r.remove_tree("/var2")
    assert not (root / "var2").exists()
    r.unlink("/etc/abs-out")
    assert (host / "secret").exists()


def test_walk_never_follows(resolver: str, tree: tuple[Path, Path]) -> None:
    root, _ = tree
    paths = {e.path for e in ConfinedRoot(root).walk("/")}
    assert "/var/log" in paths and "/var/log/secret" not in paths
