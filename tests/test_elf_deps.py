"""Libraries resolved from ELF headers on the host (core/elf_deps.py), on real binaries: the
cached debootstrapped Debian 12 tree, with the tree's own ldd run in it as the oracle (the
test may run the tree's programs; rescuetui must not), and small trees of real binaries and
libraries copied from it, broken the ways a disk breaks: a library deleted, cut short,
replaced by garbage, of another machine, libc gone, the loader not executable."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import fixture_context

from rescuetui.checks.libraries import check_libraries
from rescuetui.core.confined import ConfinedRoot
from rescuetui.core.elf_deps import (
    MISSING,
    NOT_ELF,
    TRUNCATED,
    WRONG_CLASS,
    ld_so_conf_dirs,
    resolve_program,
    shell_resolves,
)

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
LIBDIR = "usr/lib/x86_64-linux-gnu"
EM_AARCH64 = 183


def _cached_tree() -> Path:
    found = sorted(Path("/var/cache/rescuetui").glob("debian12-*/usr/bin/dash"))
    if not found:
        pytest.skip("no cached Debian tree in /var/cache/rescuetui (make setup builds it)")
    return found[0].parents[2]


def _ldd(tree: Path, program: str) -> set[str]:
    """What the tree's own ldd says `program` needs (the oracle; run by the test only)."""
    out = subprocess.run(["chroot", str(tree), "ldd", program], capture_output=True, text=True,
                         check=True).stdout
    names = set()
    for line in out.splitlines():
        word = line.split()[0]
        if not word.startswith("linux-vdso"):
            names.add(word)
    return names


@pytest.mark.root
@pytest.mark.parametrize("program", ["/sbin/init", "/bin/sh", "/usr/bin/apt", "/usr/bin/ls"])
def test_resolution_matches_the_trees_own_ldd(program: str) -> None:
    tree = _cached_tree()
    found = resolve_program(ConfinedRoot(tree), program)
    assert found.whole, [p.line() for p in found.problems]
    assert found.loader == "/lib64/ld-linux-x86-64.so.2"
    assert set(found.found) - {"ld-linux-x86-64.so.2"} == _ldd(tree, program)


def test_ld_so_conf_includes_are_followed() -> None:
    tree = _cached_tree()
    dirs = ld_so_conf_dirs(ConfinedRoot(tree))
    assert "/usr/local/lib" in dirs and "/usr/lib/x86_64-linux-gnu" in dirs


def _small_tree(root: Path) -> Path:
    """/bin/sh (dash) and /sbin/init (ls: it needs libselinux and libpcre2 besides libc), with
    their real loader and libraries, merged /usr as Debian 12 has it."""
    tree = _cached_tree()
    for d in ("usr/bin", "usr/sbin", LIBDIR, "lib64", "etc/ld.so.conf.d"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for name in ("bin", "sbin", "lib"):
        (root / name).symlink_to(f"usr/{name}")
    for path in ("usr/bin/dash", "usr/bin/ls", f"{LIBDIR}/ld-linux-x86-64.so.2",
                 f"{LIBDIR}/libc.so.6", f"{LIBDIR}/libpcre2-8.so.0", f"{LIBDIR}/libselinux.so.1"):
        shutil.copy2(tree / path, root / path, follow_symlinks=True)
    (root / "lib64/ld-linux-x86-64.so.2").symlink_to(f"/{LIBDIR}/ld-linux-x86-64.so.2")
    (root / "usr/bin/sh").symlink_to("dash")
    (root / "usr/sbin/init").symlink_to("/usr/bin/ls")
    (root / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    (root / "etc/ld.so.conf.d/x86_64-linux-gnu.conf").write_text(f"/{LIBDIR}\n")
    (root / "etc/os-release").write_text(DEBIAN)
    (root / "boot").mkdir()
    (root / "boot/vmlinuz-6.1.0-1-amd64").write_bytes(b"k")
    (root / "usr/lib/modules/6.1.0-1-amd64").mkdir(parents=True)
    return root


def _problems(root: Path, program: str) -> dict[str, str]:
    return {p.name: p.kind for p in resolve_program(ConfinedRoot(root), program).problems}


def test_a_whole_small_tree_resolves(tmp_path: Path) -> None:
    root = _small_tree(tmp_path / "t")
    assert _problems(root, "/sbin/init") == {}
    assert shell_resolves(ConfinedRoot(root))
    ctx = fixture_context(root, DEBIAN, kernel="6.1.0-1-amd64")
    assert check_libraries(ctx).ok


def test_a_deleted_library_is_missing_and_named_by_the_check(tmp_path: Path) -> None:
    root = _small_tree(tmp_path / "t")
    (root / LIBDIR / "libpcre2-8.so.0").unlink()  # libselinux needs it: a second level
    assert _problems(root, "/sbin/init") == {"libpcre2-8.so.0": MISSING}
    assert shell_resolves(ConfinedRoot(root))  # dash needs libc only
    finding = check_libraries(fixture_context(root, DEBIAN, kernel="6.1.0-1-amd64"))
    assert finding.finding == "missing" and "libpcre2-8.so.0" in finding.summary
    assert any(f"/{LIBDIR}/libselinux.so.1: libpcre2-8.so.0: not found" in e
               for e in finding.evidence), finding.evidence


def test_cut_short_garbage_and_another_machine(tmp_path: Path) -> None:
    root = _small_tree(tmp_path / "t")
    lib = root / LIBDIR / "libselinux.so.1"
    whole = lib.read_bytes()
    lib.write_bytes(whole[:4096])
    assert _problems(root, "/sbin/init") == {"libselinux.so.1": TRUNCATED}
    lib.write_bytes(b"this is not a library\n" * 100)
    assert _problems(root, "/sbin/init") == {"libselinux.so.1": NOT_ELF}
    # The same library marked for another machine: ld.so skips it and finds no other.
    other = bytearray(whole)
    other[18:20] = EM_AARCH64.to_bytes(2, "little")
    lib.write_bytes(bytes(other))
    assert _problems(root, "/sbin/init") == {"libselinux.so.1": WRONG_CLASS}
    # ... and where a good copy comes later in the search, that one is taken.
    (root / "usr/local/lib").mkdir(parents=True)
    (root / "etc/ld.so.conf.d/x86_64-linux-gnu.conf").write_text(f"/{LIBDIR}\n/usr/local/lib\n")
    (root / "usr/local/lib/libselinux.so.1").write_bytes(whole)
    found = resolve_program(ConfinedRoot(root), "/sbin/init")
    assert found.whole and found.found["libselinux.so.1"] == "/usr/local/lib/libselinux.so.1"


def test_libc_gone_or_loader_not_executable_means_nothing_runs(tmp_path: Path) -> None:
    root = _small_tree(tmp_path / "t")
    ctx = fixture_context(root, DEBIAN, kernel="6.1.0-1-amd64")
    loader = root / LIBDIR / "ld-linux-x86-64.so.2"
    os.chmod(loader, 0o644)
    assert not shell_resolves(ConfinedRoot(root))
    finding = check_libraries(ctx)
    assert finding.finding == "cannot-run" and finding.data["host_side"], finding
    assert "not executable" in finding.summary
    os.chmod(loader, 0o755)
    assert shell_resolves(ConfinedRoot(root))
    (root / LIBDIR / "libc.so.6").unlink()
    assert not shell_resolves(ConfinedRoot(root))
    finding = check_libraries(ctx)
    assert finding.finding == "cannot-run" and "libc.so.6: not found" in finding.summary


def test_runpath_origin_and_links_out_stay_inside_the_root(tmp_path: Path) -> None:
    """$ORIGIN in DT_RUNPATH is the object's own directory in the target; an absolute link
    to a library resolves inside the target, never to the rescue host's copy."""
    tree = _cached_tree()
    found = resolve_program(ConfinedRoot(tree), "/sbin/init")
    shared = [v for k, v in found.found.items() if re.match(r"libsystemd-shared-\d+\.so", k)]
    assert shared and shared[0].startswith(f"/{LIBDIR}/systemd/"), found.found
    root = _small_tree(tmp_path / "t")
    lib = root / LIBDIR / "libpcre2-8.so.0"
    lib.unlink()
    # A link to where the rescue host has this library: followed inside the target, where
    # there is none, never to the host's copy.
    host = os.path.realpath(f"/{LIBDIR}/libpcre2-8.so.0")
    assert os.path.isfile(host) and host != f"/{LIBDIR}/libpcre2-8.so.0", host
    lib.symlink_to(host)
    assert _problems(root, "/sbin/init") == {"libpcre2-8.so.0": MISSING}
