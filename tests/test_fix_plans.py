"""Fix plans for every distro family, against fixture trees (their os-release and /boot layout),
with the exact argv lists; and the file edits fixes make, on real files.

The RHEL, SUSE, Azure Linux and Arch trees are fixtures: their package managers cannot run on
this Debian host, so the plans are checked, not run (the Debian plans run for real in
test_repair.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from conftest import fixture_context, install_program

from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.bootloader import check_bootloader
from rescuetui.checks.kernel_image import expected_bzimage_size
from rescuetui.fixes.bootloader import plan_bootloader
from rescuetui.fixes.fstab import add_nofail, plan_fstab_nofail
from rescuetui.fixes.initramfs import plan_initramfs_rebuild
from rescuetui.fixes.packages import plan_kernel_reinstall, plan_package_reinstall

ROOT_UUID = "0a1b2c3d-1111-4222-8333-444455556666"
FAMILIES = {
    "rocky9": ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
               "5.14.0-427.13.1.el9_4.x86_64", "initramfs-{v}.img", "/boot/grub2/grub.cfg"),
    "sles15": ('ID="sles"\nID_LIKE="suse"\nVERSION_ID="15.5"\n', "5.14.21-150500.55.65-default",
               "initrd-{v}", "/boot/grub2/grub.cfg"),
    "azurelinux3": ('ID=azurelinux\nVERSION_ID="3.0"\n', "6.6.47.1-1.azl3",
                    "initramfs-{v}.img", "/boot/grub2/grub.cfg"),
    "arch": ("ID=arch\n", "6.10.10-arch1-1", "initramfs-linux.img", "/boot/grub/grub.cfg"),
    "centos7": ('NAME="CentOS Linux"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n',
                "3.10.0-1160.119.1.el7.x86_64", "initramfs-{v}.img", "/boot/grub2/grub.cfg"),
    "amzn2": ('NAME="Amazon Linux"\nID="amzn"\nID_LIKE="centos rhel fedora"\nVERSION_ID="2"\n',
              "5.10.225-213.878.amzn2.x86_64", "initramfs-{v}.img", "/boot/grub2/grub.cfg"),
    "amzn2023": ('NAME="Amazon Linux"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\n',
                 "6.1.112-122.189.amzn2023.x86_64", "initramfs-{v}.img", "/boot/grub2/grub.cfg"),
}
DRACUT = ["dracut", "--force", "--no-hostonly"]  # never host-only from a rescue host
EXPECTED = {
    "rocky9": {
        "initramfs": [["depmod", "-a", "{v}"], [*DRACUT, "/boot/initramfs-{v}.img", "{v}"]],
        "kernel": [["dnf", "reinstall", "-y", "kernel-core-{v}"]],
        "package": [["dnf", "reinstall", "-y", "systemd"]],
    },
    "sles15": {
        "initramfs": [["depmod", "-a", "{v}"], [*DRACUT, "/boot/initrd-{v}", "{v}"]],
        # No RPM database in this tree: the name built from the version.
        "kernel": [["zypper", "--non-interactive", "install", "--force",
                    "kernel-default-5.14.21-150500.55.65"]],
        "package": [["zypper", "--non-interactive", "install", "--force", "systemd"]],
    },
    "azurelinux3": {
        "initramfs": [["depmod", "-a", "{v}"], [*DRACUT, "/boot/initramfs-{v}.img", "{v}"]],
        "kernel": [["tdnf", "reinstall", "-y", "kernel-{v}"]],
        "package": [["tdnf", "reinstall", "-y", "systemd"]],
    },
    # yum and the one `kernel` package on the 7 generation and Amazon Linux 2; Amazon Linux
    # 2023 has dnf and still one `kernel` package.
    "centos7": {
        "initramfs": [["depmod", "-a", "{v}"], [*DRACUT, "/boot/initramfs-{v}.img", "{v}"]],
        "kernel": [["yum", "reinstall", "-y", "kernel-{v}"]],
        "package": [["yum", "reinstall", "-y", "systemd"]],
    },
    "amzn2": {
        "initramfs": [["depmod", "-a", "{v}"], [*DRACUT, "/boot/initramfs-{v}.img", "{v}"]],
        "kernel": [["yum", "reinstall", "-y", "kernel-{v}"]],
        "package": [["yum", "reinstall", "-y", "systemd"]],
    },
    "amzn2023": {
        "initramfs": [["depmod", "-a", "{v}"], [*DRACUT, "/boot/initramfs-{v}.img", "{v}"]],
        "kernel": [["dnf", "reinstall", "-y", "kernel-{v}"]],
        "package": [["dnf", "reinstall", "-y", "systemd"]],
    },
    "arch": {
        "initramfs": [["depmod", "-a", "{v}"],
                      ["mkinitcpio", "-k", "{v}", "-g", "/boot/initramfs-linux.img"]],
        "kernel": [["pacman", "-S", "--noconfirm", "linux"]],
        "package": [["pacman", "-S", "--noconfirm", "systemd"]],
    },
}


def _fixture_tree(root: Path, name: str) -> TargetContext:
    os_release, version, initrd, grub = FAMILIES[name]
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(os_release)
    (root / "etc/fstab").write_text(f"UUID={ROOT_UUID} / xfs defaults 0 0\n")
    (root / "boot").mkdir()
    modules = root / "lib/modules" / version
    modules.mkdir(parents=True)
    image = "vmlinuz-linux" if name == "arch" else f"vmlinuz-{version}"
    (root / "boot" / image).write_bytes(b"kernel")
    if name == "arch":
        (modules / "pkgbase").write_text("linux\n")
    install_program(root, "/usr/bin/mkinitcpio" if name == "arch" else "/usr/bin/dracut")
    (root / Path(grub).relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / Path(grub).relative_to("/")).write_text(
        f"menuentry 'x' {{\n  linux /boot/{image} root=UUID={ROOT_UUID} ro\n"
        f"  initrd /boot/{initrd.format(v=version)}\n}}\n")
    return fixture_context(root, os_release, uuid=ROOT_UUID)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_plans_have_the_exact_commands(tmp_path: Path, name: str) -> None:
    ctx = _fixture_tree(tmp_path, name)
    version = FAMILIES[name][1]
    assert ctx.target.family == {"sles15": "suse", "azurelinux3": "azurelinux",
                                 "arch": "arch"}.get(name, "rhel")
    expect = {k: [[a.format(v=version) for a in argv] for argv in v]
              for k, v in EXPECTED[name].items()}
    missing = Finding("initramfs", False, "missing", "gone",
                      data={"path": ctx.target.kernels[0].initramfs})
    assert [s.argv for s in plan_initramfs_rebuild(ctx, missing).steps] == expect["initramfs"]
    damaged = Finding("kernel-image", False, "kernel-damaged", "cut")
    assert [s.argv for s in plan_kernel_reinstall(ctx, damaged).steps] == expect["kernel"]
    libs = Finding("libraries", False, "missing", "gone", data={"packages": ["systemd"]})
    assert [s.argv for s in plan_package_reinstall(ctx, libs).steps] == expect["package"]
    assert all(s.in_chroot for s in plan_initramfs_rebuild(ctx, missing).steps)


def test_the_builder_comes_from_what_is_installed_not_the_family(tmp_path: Path) -> None:
    """An unknown family with mkinitcpio installed rebuilds with mkinitcpio; with no builder
    that can run (the program gone, its directory in /etc left behind) it is blocked."""
    ctx = _fixture_tree(tmp_path, "arch")
    ctx.target.os_release = {"ID": "plan9"}
    missing = Finding("initramfs", False, "missing", "gone", data={"path": "/boot/x.img"})
    plan = plan_initramfs_rebuild(ctx, missing)
    assert plan.steps[-1].argv[0] == "mkinitcpio" and not plan.blocked
    (tmp_path / "usr/bin/mkinitcpio").unlink()
    (tmp_path / "etc/mkinitcpio.conf.d").mkdir(parents=True)
    plan = plan_initramfs_rebuild(ctx, missing)
    assert plan.blocked and not plan.steps


def test_nofail_is_added_and_nothing_else_moves() -> None:
    fstab = (b"# comment stays\nUUID=a / ext4 errors=remount-ro 0 1\n"
             b"UUID=b\t/data\text4\tdefaults\t0\t2\nLABEL=c /srv xfs noatime 0 0\n")
    out = add_nofail(fstab, [3, 4])
    assert out == (b"# comment stays\nUUID=a / ext4 errors=remount-ro 0 1\n"
                   b"UUID=b\t/data\text4\tdefaults,nofail\t0\t2\n"
                   b"LABEL=c /srv xfs noatime,nofail 0 0\n")
    assert add_nofail(out, [3, 4]) == out


def test_fstab_plan_shows_the_diff(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path, "rocky9")
    (tmp_path / "etc/fstab").write_bytes(b"UUID=x / xfs defaults 0 0\nUUID=y /data xfs defaults 0 0\n")
    plan = plan_fstab_nofail(ctx, Finding("fstab", False, "missing-device", "y", data={"lines": [2]}))
    assert "-UUID=y /data xfs defaults 0 0" in plan.diff
    assert "+UUID=y /data xfs defaults,nofail 0 0" in plan.diff
    assert plan.edits[0].path == "/etc/fstab" and not plan.steps


def test_grub_root_from_a_rescue_host_device_is_corrected(tmp_path: Path) -> None:
    ctx = _fixture_tree(tmp_path, "rocky9")
    cfg = tmp_path / "boot/grub2/grub.cfg"
    version = FAMILIES["rocky9"][1]
    (tmp_path / f"boot/initramfs-{version}.img").write_bytes(b"x")
    cfg.write_text(cfg.read_text().replace(f"root=UUID={ROOT_UUID}", "root=/dev/loop3p2")
                   + "set root='hd2,msdos1'\n")
    finding = check_bootloader(ctx)
    assert not finding.ok and finding.finding == "wrong-disk"
    assert finding.data["bad_roots"] == ["/dev/loop3p2"]
    plan = plan_bootloader(ctx, finding)
    new = plan.edits[0].content
    assert new is not None and b"root=/dev/loop3p2" not in new
    assert f"root=UUID={ROOT_UUID}".encode() in new and b"set root='hd0,msdos1'" in new


def test_bzimage_header_gives_the_minimum_size() -> None:
    header = bytearray(0x300)
    header[0x1F1] = 27
    header[0x202:0x206] = b"HdrS"
    struct.pack_into("<I", header, 0x1F4, 0x80000)
    assert expected_bzimage_size(bytes(header)) == 28 * 512 + 0x80000 * 16
    assert expected_bzimage_size(b"\x7fELF" + bytes(0x300)) is None
