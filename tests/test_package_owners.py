"""Who owns a missing file, on real package databases: the practice Debian disk with the file
/sbin/init links to deleted (dpkg's lists; the link's package is not the one to reinstall), RPM
databases the host's rpm builds from tiny real packages made with rpmbuild (RHEL 9 and 7, SUSE,
Azure Linux: the owner of init's program and the exact kernel package come from the database),
and pacman's local database (its plain-text format)."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import fixture_context

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.libraries import check_libraries
from rescuetui.checks.package_verify import boot_packages
from rescuetui.checks.packages import debian_owner, file_owner, kernel_package, owners
from rescuetui.checks.rpmdb import database_dir
from rescuetui.core.session import RescueSession
from rescuetui.fixes.packages import plan_kernel_reinstall, plan_package_reinstall
from rescuetui.lab.scenario import build_scenario
from rescuetui.lab.scenarios import SCENARIOS

UUID = "0a1b2c3d-1111-4222-8333-444455556666"
RPM_MISSING = None if shutil.which("rpm") and shutil.which("rpmbuild") else \
    "the host's rpm and rpmbuild are not installed (apt-get install rpm; make setup)"


@pytest.mark.root
def test_init_behind_a_link_is_owned_by_systemd_not_systemd_sysv(tmp_path: Path) -> None:
    """The practice disk of init-target-deleted, mounted for real: /sbin/init is still there
    as a link (systemd-sysv's), the program it leads to is gone (systemd's). The check names
    the program and systemd; the fix reinstalls systemd."""
    image = tmp_path / "disk.img"
    build_scenario(SCENARIOS["init-target-deleted"], image, journal_base=tmp_path / "build")
    with RescueSession(journal_base=tmp_path / "journal") as session:
        session.open_target(str(image), api=False)
        assert session.target is not None
        ctx = TargetContext(session.root, session.target, session.runner, "")
        ctx.kernel = session.target.kernels[0].version
        assert ctx.files.is_symlink("/sbin/init") and not ctx.files.exists("/sbin/init")
        assert debian_owner(ctx, "/sbin/init") == ("systemd-sysv", "/sbin/init")
        finding = check_libraries(ctx)
        assert not finding.ok and finding.finding == "missing"
        assert finding.data["packages"] == ["systemd"]
        assert finding.data["files"] == ["/lib/systemd/systemd"]
        assert "/sbin/init: links to /usr/lib/systemd/systemd, which is missing" in finding.evidence
        plan = plan_package_reinstall(ctx, finding)
        assert not plan.blocked
        assert plan.steps[0].argv[:2] == ["dpkg", "-i"]
        assert Path(plan.steps[0].argv[2]).name.startswith("systemd_")
        # Package verification looks at systemd too (whose file is missing), not only the link's.
        assert "systemd" in boot_packages(ctx)


# --- RPM: real databases built by the host's rpm -----------------------------------------------

def _spec(name: str, version: str, release: str, files: dict[str, str], ghosts: tuple[str, ...] = (),
          links: dict[str, str] | None = None) -> str:
    install = []
    listed = []
    for path, content in files.items():
        install.append(f"mkdir -p %{{buildroot}}{os.path.dirname(path)}")
        install.append(f"printf '%s' '{content}' > %{{buildroot}}{path}")
        listed.append(path)
    for path, target in (links or {}).items():
        install.append(f"mkdir -p %{{buildroot}}{os.path.dirname(path)}")
        install.append(f"ln -s {target} %{{buildroot}}{path}")
        listed.append(path)
    for path in ghosts:
        install.append(f"mkdir -p %{{buildroot}}{os.path.dirname(path)}")
        install.append(f"touch %{{buildroot}}{path}")
        listed.append(f"%ghost {path}")
    return textwrap.dedent(f"""\
        Name: {name}
        Version: {version}
        Release: {release}
        Summary: fixture
        License: MIT
        BuildArch: noarch
        %description
        fixture
        %install
        """) + "\n".join(install) + "\n%files\n" + "\n".join(listed) + "\n"


def _install_rpms(root: Path, work: Path, specs: list[str], dbpath: str = "/var/lib/rpm") -> None:
    """rpmbuild each package, then record it in the tree's own database (--justdb: the files
    themselves are the fixture's to lay out, as the test needs them present or gone)."""
    top = work / "rpmbuild"
    for n, spec in enumerate(specs):
        path = work / f"p{n}.spec"
        path.write_text(spec)
        subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "--define",
                        "__os_install_post %{nil}", "--define", "_build_id_links none",
                        "-bb", str(path)], check=True, capture_output=True)
    rpms = sorted(str(p) for p in (top / "RPMS").rglob("*.rpm"))
    subprocess.run(["rpm", "--root", str(root), "--dbpath", dbpath, "-i", "--nodeps",
                    "--justdb", "--noscripts", *rpms], check=True, capture_output=True)


def _tree(root: Path, os_release: str, kernel: str, files: dict[str, str]) -> TargetContext:
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(os_release)
    (root / "etc/fstab").write_text(f"UUID={UUID} / xfs defaults 0 0\n")
    (root / "usr/lib/modules" / kernel).mkdir(parents=True)
    for name in ("lib", "sbin", "bin", "lib64"):
        (root / name).symlink_to(f"usr/{name}")  # merged /usr, as every current RPM distro
    (root / "usr/sbin").mkdir(parents=True, exist_ok=True)
    (root / "boot").mkdir()
    for path, content in files.items():
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_text(content)
    return fixture_context(root, os_release, uuid=UUID)


SLES = 'NAME="SLES"\nID="sles"\nID_LIKE="suse"\nVERSION_ID="15.6"\n'
SLES_KERNEL = "6.4.0-150600.23.7-default"
ROCKY = 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n'
ROCKY_KERNEL = "5.14.0-427.13.1.el9_4.x86_64"
CENTOS7 = 'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n'
CENTOS7_KERNEL = "3.10.0-1160.119.1.el7.x86_64"
AZL = 'ID=azurelinux\nVERSION_ID="3.0"\n'
AZL_KERNEL = "6.6.47.1-1.azl3"


@pytest.fixture
def sles(tmp_path: Path) -> TargetContext:
    """SLES 15 SP6: kernel-default owning the image and module tree, systemd owning the init
    program, systemd-sysvinit owning the /sbin/init link (SUSE's name for it). The program is
    deleted: the link dangles."""
    if RPM_MISSING:
        pytest.skip(RPM_MISSING)
    root = tmp_path / "root"
    ctx = _tree(root, SLES, SLES_KERNEL, {f"/boot/vmlinuz-{SLES_KERNEL}": "kernel",
                                           f"/usr/lib/modules/{SLES_KERNEL}/vmlinuz": "kernel"})
    (root / "usr/sbin/init").symlink_to("../lib/systemd/systemd")
    _install_rpms(root, tmp_path, [
        _spec("kernel-default", "6.4.0", "150600.23.7.1",
              {f"/usr/lib/modules/{SLES_KERNEL}/vmlinuz": "k"},
              ghosts=(f"/boot/vmlinuz-{SLES_KERNEL}",)),
        _spec("systemd", "254.10", "150600.4.3.1", {"/usr/lib/systemd/systemd": "s"}),
        _spec("systemd-sysvinit", "254.10", "150600.4.3.1", {},
              links={"/usr/sbin/init": "../lib/systemd/systemd"}),
    ])
    return ctx


def test_rpm_owner_of_the_missing_program_behind_init(sles: TargetContext) -> None:
    assert database_dir(sles.root) == "/var/lib/rpm"
    link = file_owner(sles, "/usr/sbin/init")
    assert link is not None and link.package == "systemd-sysvinit"  # the link's: not it
    finding = check_libraries(sles)
    assert not finding.ok
    assert finding.data["packages"] == ["systemd"]
    assert finding.data["files"] == ["/usr/lib/systemd/systemd"]
    plan = plan_package_reinstall(sles, finding)
    assert [s.argv for s in plan.steps] == [
        ["zypper", "--non-interactive", "install", "--force", "systemd"]]


def test_suse_kernel_reinstall_is_the_exact_installed_package(sles: TargetContext) -> None:
    assert kernel_package(sles, SLES_KERNEL) == "kernel-default-6.4.0-150600.23.7.1"
    plan = plan_kernel_reinstall(sles, Finding("kernel-image", False, "kernel-damaged", "cut"))
    assert [s.argv for s in plan.steps] == [
        ["zypper", "--non-interactive", "install", "--force", "kernel-default-6.4.0-150600.23.7.1"]]


def test_without_a_database_the_kernel_name_is_built_from_the_version(sles: TargetContext) -> None:
    shutil.rmtree(sles.root / "var/lib/rpm")
    assert file_owner(sles, "/usr/lib/systemd/systemd") is None
    assert kernel_package(sles, SLES_KERNEL) == "kernel-default-6.4.0-150600.23.7"


@pytest.mark.parametrize("name", ["rocky9", "centos7", "azurelinux3"])
def test_rhel_and_azure_kernel_package_from_the_database(tmp_path: Path, name: str) -> None:
    """RHEL 9: kernel-core owns the module tree's vmlinuz, /boot's copy is a ghost; CentOS 7
    (yum) and Azure Linux: one `kernel` package owns the image."""
    if RPM_MISSING:
        pytest.skip(RPM_MISSING)
    os_release, kernel, spec, expected = {
        "rocky9": (ROCKY, ROCKY_KERNEL,
                   _spec("kernel-core", "5.14.0", "427.13.1.el9_4",
                         {f"/lib/modules/{ROCKY_KERNEL}/vmlinuz": "k"},
                         ghosts=(f"/boot/vmlinuz-{ROCKY_KERNEL}",)),
                   ["dnf", "reinstall", "-y", "kernel-core-5.14.0-427.13.1.el9_4"]),
        "centos7": (CENTOS7, CENTOS7_KERNEL,
                    _spec("kernel", "3.10.0", "1160.119.1.el7",
                          {f"/boot/vmlinuz-{CENTOS7_KERNEL}": "k"}),
                    ["yum", "reinstall", "-y", "kernel-3.10.0-1160.119.1.el7"]),
        "azurelinux3": (AZL, AZL_KERNEL,
                        _spec("kernel", "6.6.47.1", "1.azl3", {f"/boot/vmlinuz-{AZL_KERNEL}": "k"}),
                        ["tdnf", "reinstall", "-y", "kernel-6.6.47.1-1.azl3"]),
    }[name]
    root = tmp_path / "root"
    ctx = _tree(root, os_release, kernel, {f"/boot/vmlinuz-{kernel}": "kernel"})
    _install_rpms(root, tmp_path, [spec, _spec("other", "1", "1", {"/usr/bin/other": "o"})])
    plan = plan_kernel_reinstall(ctx, Finding("kernel-image", False, "kernel-damaged", "cut"))
    assert [s.argv for s in plan.steps] == [expected]
    assert owners(ctx, ["/usr/bin/other", "/usr/bin/nobody"]).keys() == {"/usr/bin/other"}


def test_database_behind_an_absolute_link_is_found_inside_the_root(tmp_path: Path) -> None:
    """Fedora 36+ and RHEL 10 keep the database in /usr/lib/sysimage/rpm, /var/lib/rpm linking
    to it; an absolute link must resolve inside the target, not on the host."""
    if RPM_MISSING:
        pytest.skip(RPM_MISSING)
    root = tmp_path / "root"
    ctx = _tree(root, 'ID=fedora\nVERSION_ID=40\n', "6.8.5-301.fc40.x86_64",
                {"/boot/vmlinuz-6.8.5-301.fc40.x86_64": "kernel"})
    _install_rpms(root, tmp_path, [_spec("systemd", "255.4", "1.fc40",
                                         {"/usr/lib/systemd/systemd": "s"})],
                  dbpath="/usr/lib/sysimage/rpm")
    (root / "var/lib").mkdir(parents=True)
    (root / "var/lib/rpm").symlink_to("/usr/lib/sysimage/rpm")
    assert database_dir(root) == "/usr/lib/sysimage/rpm"
    owner = file_owner(ctx, "/lib/systemd/systemd")  # the /usr-less spelling finds it too
    assert owner is not None and (owner.package, owner.path, owner.exact) == (
        "systemd", "/usr/lib/systemd/systemd", "systemd-255.4-1.fc40")


def test_database_is_read_from_a_copy_on_a_read_only_mount(sles: TargetContext,
                                                           tmp_path: Path) -> None:
    """Checks run with the target mounted read-only; the host's rpm wants to write beside a
    database (sqlite's -shm). The lookup reads a copy, and the disk's files stay as they were."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a read-only bind mount")
    db = sles.root / "var/lib/rpm"
    before = {p.name: p.stat().st_mtime_ns for p in db.iterdir()}
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "--bind", str(sles.root), str(ro)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        ctx = fixture_context(ro, SLES, uuid=UUID)
        assert kernel_package(ctx, SLES_KERNEL) == "kernel-default-6.4.0-150600.23.7.1"
    finally:
        subprocess.run(["umount", str(ro)], check=True)
    assert {p.name: p.stat().st_mtime_ns for p in db.iterdir()} == before


# --- pacman: the local database's text files --------------------------------------------------

def _pacman_package(root: Path, name: str, version: str, files: list[str]) -> None:
    entry = root / "var/lib/pacman/local" / f"{name}-{version}"
    entry.mkdir(parents=True)
    (entry / "desc").write_text(f"%NAME%\n{name}\n\n%VERSION%\n{version}\n\n%ARCH%\nx86_64\n\n")
    dirs = sorted({str(Path(f).parent) + "/" for f in files})
    (entry / "files").write_text("%FILES%\n" + "\n".join(dirs + files) + "\n\n%BACKUP%\n"
                                 "etc/systemd/journald.conf\t0123456789abcdef\n\n")


def test_arch_owner_comes_from_the_pacman_files_lists(tmp_path: Path) -> None:
    root = tmp_path / "root"
    kernel = "6.10.10-arch1-1"
    ctx = _tree(root, "ID=arch\n", kernel, {"/boot/vmlinuz-linux": "kernel",
                                             f"/usr/lib/modules/{kernel}/pkgbase": "linux\n"})
    (root / "usr/sbin/init").symlink_to("../lib/systemd/systemd")
    _pacman_package(root, "systemd", "256.7-1", ["usr/lib/systemd/systemd",
                                                  "usr/lib/systemd/libsystemd-shared-256.so"])
    _pacman_package(root, "systemd-sysvcompat", "256.7-1", ["usr/bin/init"])
    _pacman_package(root, "linux", "6.10.10.arch1-1", [f"usr/lib/modules/{kernel}/vmlinuz"])
    finding = check_libraries(ctx)
    assert finding.data["packages"] == ["systemd"]
    assert finding.data["files"] == ["/usr/lib/systemd/systemd"]
    shared = file_owner(ctx, "libsystemd-shared-256.so")  # a bare name, as ldd reports it
    assert shared is not None and shared.path == "/usr/lib/systemd/libsystemd-shared-256.so"
    assert kernel_package(ctx, kernel, "/boot/vmlinuz-linux") == "linux"
