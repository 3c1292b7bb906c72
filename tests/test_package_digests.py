"""Package verification on the host (checks/package_digests.py), nothing run in the target.

Debian: the cached debootstrapped Debian 12 tree against its own `dpkg --verify` (the oracle,
run by the test only), and a tree holding the real dash package's files and dpkg records,
altered: a changed byte, a deleted file, a link to the rescue host's own copy of the file in
its place, a FIFO in its place. RPM: real databases the host's rpm builds from tiny real
packages (rpmbuild), the files laid out by the test, then changed; and a database the host's
rpm cannot read, which must say "could not check", never "ok".
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import fixture_context
from test_package_owners import ROCKY, ROCKY_KERNEL, RPM_MISSING, _install_rpms, _spec, _tree

from rescuetui.checks.package_digests import verify_debian
from rescuetui.checks.package_verify import check_package_verify
from rescuetui.checks.permissions import check_permissions
from rescuetui.core.confined import ConfinedRoot

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
KERNEL = "6.1.0-1-amd64"


def _cached_tree() -> Path:
    found = sorted(Path("/var/cache/rescuetui").glob("debian12-*/var/lib/dpkg/status"))
    if not found:
        pytest.skip("no cached Debian tree in /var/cache/rescuetui (make setup builds it)")
    return found[0].parents[3]


@pytest.mark.root
def test_every_package_of_the_cached_tree_agrees_with_dpkg_verify() -> None:
    tree = _cached_tree()
    status = (tree / "var/lib/dpkg/status").read_text()
    packages = [line[9:] for line in status.splitlines() if line.startswith("Package: ")]
    ours = verify_debian(ConfinedRoot(tree), packages)
    theirs = subprocess.run(["chroot", str(tree), "dpkg", "--verify"], capture_output=True,
                            text=True, check=False).stdout.splitlines()
    assert ours.altered == [line.split()[-1] for line in theirs if " c " not in line]
    assert ours.checked_files > 1000 and not ours.unchecked


def _dash_tree(root: Path) -> Path:
    """dash as dpkg installed it (its files and its .list and .md5sums), merged /usr."""
    tree = _cached_tree()
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    for name in ("bin", "sbin", "lib"):
        (root / "usr" / name).mkdir(parents=True)
        (root / name).symlink_to(f"usr/{name}")
    for suffix in (".list", ".md5sums"):
        shutil.copy2(tree / f"var/lib/dpkg/info/dash{suffix}", info / f"dash{suffix}")
    for line in (info / "dash.list").read_text().splitlines():
        source = tree / line.lstrip("/")
        dest = root / line.lstrip("/")
        if source.is_symlink() or not source.is_file():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
    (root / "usr/bin/sh").symlink_to("dash")
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/os-release").write_text(DEBIAN)
    (root / "boot").mkdir()
    (root / f"boot/vmlinuz-{KERNEL}").write_bytes(b"k")
    (root / f"usr/lib/modules/{KERNEL}").mkdir(parents=True)
    return root


def test_dash_whole_then_changed_deleted_linked_out_and_a_fifo(tmp_path: Path) -> None:
    root = _dash_tree(tmp_path / "t")
    ctx = fixture_context(root, DEBIAN, fstype="ext4", kernel=KERNEL)
    whole = check_package_verify(ctx)
    assert whole.ok and "dash" in whole.summary, whole
    # The kernel package of this tree has no records: said, not hidden.
    assert any("linux-image" in e and "no md5sums" in e for e in whole.evidence), whole

    page = root / "usr/share/man/man1/dash.1.gz"
    data = bytearray(page.read_bytes())
    data[100] ^= 0xFF
    page.write_bytes(bytes(data))
    changed = check_package_verify(ctx)
    assert changed.finding == "damaged" and changed.data["packages"] == ["dash"]
    assert changed.data["files"] == ["/usr/share/man/man1/dash.1.gz"]
    assert "md5 digest differs" in changed.evidence[0]

    dash = root / "usr/bin/dash"
    program = dash.read_bytes()
    dash.unlink()
    gone = check_package_verify(ctx)
    assert gone.finding == "damaged"
    assert "/bin/dash: missing" in gone.evidence or "/usr/bin/dash: missing" in gone.evidence

    # The rescue host's own dash, byte for byte the same program: a link to it is still not
    # the file the package installed, and the host's file is never read through it.
    assert Path("/usr/bin/dash").is_file()
    dash.symlink_to("/usr/bin/dash")
    linked = check_package_verify(ctx)
    assert linked.finding == "damaged"
    assert any("symbolic link" in e for e in linked.evidence), linked.evidence

    dash.unlink()
    os.mkfifo(dash)
    fifo = check_package_verify(ctx)  # must not hang on the FIFO
    assert fifo.finding == "damaged" and any("not a regular file" in e for e in fifo.evidence)

    dash.unlink()
    dash.write_bytes(program)
    assert check_package_verify(ctx).finding == "damaged"  # the man page is still changed
    page.write_bytes(bytes(data[:100]) + bytes([data[100] ^ 0xFF]) + bytes(data[101:]))
    assert check_package_verify(ctx).ok


@pytest.fixture
def rocky(tmp_path: Path) -> Path:
    if RPM_MISSING:
        pytest.skip(RPM_MISSING)
    root = tmp_path / "root"
    files = {"/usr/bin/bash": "bash program", "/usr/lib64/libc.so.6": "libc",
             "/usr/lib64/ld-linux-x86-64.so.2": "loader",
             f"/usr/lib/modules/{ROCKY_KERNEL}/vmlinuz": "kernel",
             "/usr/bin/sudo": "sudo program", "/usr/share/doc/sudo/README": "readme"}
    _tree(root, ROCKY, ROCKY_KERNEL, files)
    (root / "usr/bin/sh").symlink_to("bash")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\n")
    for path in files:
        os.chmod(root / path.lstrip("/"), 0o644)
    _install_rpms(root, tmp_path, [
        _spec("bash", "5.1.8", "9.el9", {"/usr/bin/bash": "bash program"},
              links={"/usr/bin/sh": "bash"}),
        _spec("glibc", "2.34", "100.el9", {"/usr/lib64/libc.so.6": "libc",
                                           "/usr/lib64/ld-linux-x86-64.so.2": "loader"}),
        _spec("kernel-core", "5.14.0", "427.13.1.el9_4",
              {f"/usr/lib/modules/{ROCKY_KERNEL}/vmlinuz": "kernel"}),
        _spec("sudo", "1.9.5p2", "10.el9", {"/usr/bin/sudo": "sudo program",
                                            "/usr/share/doc/sudo/README": "readme"}),
    ])
    return root


def test_rpm_digests_and_modes_from_the_database_on_the_host(rocky: Path) -> None:
    ctx = fixture_context(rocky, ROCKY, uuid="u", kernel=ROCKY_KERNEL)
    found = check_package_verify(ctx)
    assert found.ok and "bash" in found.summary, found
    (rocky / "usr/bin/bash").write_text("bash program, patched")
    changed = check_package_verify(ctx)
    assert changed.finding == "damaged" and changed.data["files"] == ["/usr/bin/bash"]
    assert changed.data["packages"] == ["bash"]
    (rocky / "usr/lib64/libc.so.6").unlink()
    gone = check_package_verify(ctx)
    assert "/usr/lib64/libc.so.6" in gone.data["files"] and "glibc" in gone.data["packages"]

    assert not check_permissions(ctx).data["rpm_packages"]
    readme = rocky / "usr/share/doc/sudo/README"
    os.chmod(readme, 0o666)
    os.chown(readme, 1000, 0)
    modes = check_permissions(ctx)
    assert modes.data["rpm_packages"] == ["sudo"], modes
    assert "/usr/share/doc/sudo/README: mode and user differ" in modes.evidence, modes.evidence


def test_an_rpm_database_the_host_cannot_read_is_not_called_ok(rocky: Path) -> None:
    ctx = fixture_context(rocky, ROCKY, uuid="u", kernel=ROCKY_KERNEL)
    db = rocky / "var/lib/rpm"
    for name in os.listdir(db):
        (db / name).write_bytes(b"\0garbage, not a database\n" * 64)
    found = check_package_verify(ctx)
    assert not found.ok and found.finding == "unchecked", found
    assert "Could not check" in found.summary and "rpm" in found.summary
    notes = check_permissions(ctx).evidence
    assert any("cannot read the RPM database" in n for n in notes), notes


def _pacman_mtree(root: Path, name: str, version: str, files: dict[str, str],
                  backup: tuple[str, ...] = ()) -> None:
    """A package as pacman records it: its desc, and the mtree makepkg writes with bsdtar
    (here bsdtar itself, over the files as the test lays them out: pacman does not run on
    this Debian host)."""
    stage = root.parent / f"stage-{name}"
    for path, content in files.items():
        (stage / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (stage / path.lstrip("/")).write_text(content)
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_text(content)
    entry = root / "var/lib/pacman/local" / f"{name}-{version}"
    entry.mkdir(parents=True)
    (entry / "desc").write_text(f"%NAME%\n{name}\n\n%VERSION%\n{version}\n\n"
                                + ("%BACKUP%\n" + "".join(f"{b}\t0\n" for b in backup) + "\n"
                                   if backup else ""))
    (entry / "files").write_text("%FILES%\n" + "\n".join(p.lstrip("/") for p in files) + "\n\n")
    mtree = subprocess.run(
        ["bsdtar", "-czf", "-", "--format=mtree", "--options",
         "!all,use-set,type,uid,gid,mode,time,size,md5,sha256,link", "."],
        cwd=stage, capture_output=True, check=True, env={"LANG": "C", "PATH": os.defpath}).stdout
    (entry / "mtree").write_bytes(mtree)


def test_arch_digests_from_the_packages_mtree(tmp_path: Path) -> None:
    if shutil.which("bsdtar") is None:
        pytest.skip("bsdtar is not installed (apt-get install libarchive-tools; make setup)")
    root = tmp_path / "root"
    kernel = "6.10.10-arch1-1"
    _tree(root, "ID=arch\n", kernel, {})
    _pacman_mtree(root, "bash", "5.2.037-1", {"/usr/bin/bash": "bash program",
                                              "/etc/bash.bashrc": "# defaults\n"},
                  backup=("etc/bash.bashrc",))
    (root / "usr/bin/sh").symlink_to("bash")
    _pacman_mtree(root, "linux", "6.10.10.arch1-1",
                  {f"/usr/lib/modules/{kernel}/vmlinuz": "kernel", "/boot/vmlinuz-linux": "k",
                   f"/usr/lib/modules/{kernel}/pkgbase": "linux\n"})
    ctx = fixture_context(root, "ID=arch\n", uuid="u", kernel=kernel)
    found = check_package_verify(ctx)
    assert found.ok and "bash" in found.summary and "linux" in found.summary, found
    (root / "etc/bash.bashrc").write_text("# edited by the administrator\n")
    assert check_package_verify(ctx).ok  # a backup file: configuration, not damage
    (root / "usr/bin/bash").write_text("bash program, patched")
    (root / f"usr/lib/modules/{kernel}/vmlinuz").unlink()
    damaged = check_package_verify(ctx)
    assert damaged.finding == "damaged"
    assert sorted(damaged.data["files"]) == ["/usr/bin/bash", f"/usr/lib/modules/{kernel}/vmlinuz"]
    assert damaged.data["packages"] == ["bash", "linux"]
