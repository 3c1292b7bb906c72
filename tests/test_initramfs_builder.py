"""Which initramfs builder a target has: what is installed and can run, not the family's
default nor what a removed package left in /etc. Fixture trees (the programs are never run);
the dracut practice disk proves it on a real system in test_dracut.py."""

from __future__ import annotations

from pathlib import Path

from conftest import install_program

from rescuetui.core.initramfs_builder import installed_builders, target_builder

STATUS = """Package: initramfs-tools
Status: {tools} ok {tools_state}
Version: 0.142

Package: dracut
Status: install ok installed
Version: 059-4
"""


def _debian(root: Path, tools: str = "deinstall", tools_state: str = "config-files") -> None:
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(STATUS.format(tools=tools, tools_state=tools_state))
    (root / "etc/initramfs-tools/conf.d").mkdir(parents=True)  # left behind by the removal
    install_program(root, "/usr/bin/dracut")


def test_a_removed_initramfs_tools_does_not_count(tmp_path: Path) -> None:
    _debian(tmp_path)
    # Even a program left behind does not count while dpkg says the package is not installed.
    install_program(tmp_path, "/usr/sbin/mkinitramfs")
    assert [b.name for b in installed_builders(tmp_path)] == ["dracut"]
    builder = target_builder(tmp_path, "debian")
    assert builder is not None and builder.name == "dracut"


def test_with_both_installed_the_familys_usual_one_builds(tmp_path: Path) -> None:
    _debian(tmp_path, tools="install", tools_state="installed")
    install_program(tmp_path, "/usr/sbin/mkinitramfs")
    assert [b.name for b in installed_builders(tmp_path)] == ["initramfs-tools", "dracut"]
    builder = target_builder(tmp_path, "debian")
    assert builder is not None and builder.name == "initramfs-tools"


def test_rpm_and_arch_systems_by_their_programs(tmp_path: Path) -> None:
    rhel, arch = tmp_path / "rhel", tmp_path / "arch"
    install_program(rhel, "/usr/bin/dracut")
    builder = target_builder(rhel, "rhel")
    assert builder is not None and builder.name == "dracut"
    install_program(arch, "/usr/bin/dracut")
    install_program(arch, "/usr/bin/mkinitcpio")
    builder = target_builder(arch, "arch")
    assert builder is not None and builder.name == "mkinitcpio"


def test_a_program_that_cannot_run_or_points_out_of_the_root_is_no_builder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/dracut").write_text("#!/bin/sh\n")  # not executable
    assert installed_builders(root) == []
    (root / "usr/bin/dracut").unlink()
    outside = tmp_path / "host-dracut"
    outside.write_text("#!/bin/sh\n")
    outside.chmod(0o755)
    (root / "usr/bin/dracut").symlink_to(outside)  # absolute: resolved inside the root
    assert installed_builders(root) == []
    assert target_builder(root, "rhel") is None


def test_rebuild_commands(tmp_path: Path) -> None:
    install_program(tmp_path, "/usr/bin/dracut")
    builder = target_builder(tmp_path, "rhel")
    assert builder is not None
    assert builder.rebuild("5.14.0-1.el9", "/boot/initramfs-5.14.0-1.el9.img", True) == [
        ["depmod", "-a", "5.14.0-1.el9"],
        ["dracut", "--force", "--no-hostonly", "/boot/initramfs-5.14.0-1.el9.img",
         "5.14.0-1.el9"]]
    tools = target_builder(_tools_only(tmp_path / "debian"), "debian")
    assert tools is not None
    assert tools.rebuild("6.1.0-50-cloud-amd64", "/boot/initrd.img-6.1.0-50-cloud-amd64",
                         False)[-1] == ["update-initramfs", "-c", "-k", "6.1.0-50-cloud-amd64"]


def _tools_only(root: Path) -> Path:
    install_program(root, "/usr/sbin/mkinitramfs")
    return root
