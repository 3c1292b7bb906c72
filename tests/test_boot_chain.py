"""The boot chain below the kernel, on real bytes: GRUB's boot code and core image as grub-install
writes them, FAT filesystems written with mtools, EFI executables, kernel command lines, GRUB's
environment block, the console's evidence of the machine's disk drivers, and boot endings."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import SERIAL_DIR, fixture_context, install_program
from hypothesis import given
from hypothesis import strategies as st

from rescuetui.checks.kernel_cmdline import check_kernel_cmdline
from rescuetui.core.bootchain import PartitionSpan, boot_code_kind, read_bios_boot
from rescuetui.core.cmdline import judge, split_cmdline, without
from rescuetui.core.esp import pe_machine, read_esp
from rescuetui.diagnose.machine import machine_drivers
from rescuetui.fixes.kernel_cmdline import _edited_grubenv, plan_kernel_cmdline
from rescuetui.lab.boot import BootWatcher, classify_log

GRUB_EFI = Path("/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi")
DEBIAN = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n'


def _grub_head() -> bytes:
    """An MBR and post-MBR gap shaped as grub-install leaves them: boot.img pointing at sector
    1, diskboot.img there with a block list of 100 sectors from sector 2, the body after it."""
    mbr = bytearray(512)
    mbr[0:3] = b"\xebc\x90"
    mbr[0x170:0x170 + 34] = b"GRUB \x00Geom\x00Hard Disk\x00Read\x00 Error"
    struct.pack_into("<Q", mbr, 0x5C, 1)
    mbr[510:512] = b"\x55\xaa"
    diskboot = bytearray(512)
    diskboot[0x100:0x108] = b"loading\x00"
    struct.pack_into("<QH", diskboot, 512 - 12, 2, 100)
    body = b"\xea\x1c\x82\x00" + b"\x01" * 508
    return bytes(mbr) + bytes(diskboot) + body + b"\x00" * (2048 * 512 - 3 * 512)


SPANS = [PartitionSpan(1, 2048, 524288, False, "/dev/x1")]


def test_grub_boot_code_and_core_image_in_the_gap() -> None:
    bios = read_bios_boot(_grub_head(), SPANS, "dos")
    assert (bios.boot_code, bios.core_place, bios.core_ok) == ("grub", "post-mbr-gap", True)
    assert bios.gap is not None and (bios.gap.offset, bios.gap.length) == (512, 2047 * 512)


def test_zeroed_boot_code_and_zeroed_core_image() -> None:
    head = bytearray(_grub_head())
    assert boot_code_kind(bytes(512)) == "none"
    head[512 * 2:512 * 3] = bytes(512)  # the core image's body gone
    bios = read_bios_boot(bytes(head), SPANS, "dos")
    assert not bios.core_ok and "zeroed" in bios.core_problem
    head[512:1024] = bytes(512)  # diskboot.img gone too
    assert "does not hold one" in read_bios_boot(bytes(head), SPANS, "dos").core_problem


def test_other_boot_loaders_are_recognised() -> None:
    assert boot_code_kind(b"\x33\xc0" + b"Invalid partition table" + bytes(400)) == "windows"
    assert boot_code_kind(b"\xfa\xeb" + b"\x13" * 200) == "unknown"


@pytest.mark.skipif(not GRUB_EFI.is_file(), reason="grub-efi-amd64-bin is not installed")
def test_pe_header_of_a_real_efi_image() -> None:
    assert pe_machine(GRUB_EFI.read_bytes()[:4096]) == "x86_64"
    assert pe_machine(b"MZ" + bytes(100)) == "not-pe"
    assert pe_machine(b"#!/bin/sh\n" * 20) == "not-pe"
    assert pe_machine(b"") == "empty"


@pytest.mark.skipif(shutil.which("mcopy") is None or not GRUB_EFI.is_file(),
                    reason="mtools or grub-efi-amd64-bin is not installed")
def test_esp_read_with_mtools(tmp_path: Path) -> None:
    """A real FAT image written with mtools, read back without mounting."""
    esp = tmp_path / "esp.img"
    with open(esp, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.vfat", "-F", "32", str(esp)], check=True, capture_output=True)
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    subprocess.run(["mmd", "-i", str(esp), "::/EFI", "::/EFI/BOOT", "::/EFI/debian"], check=True,
                   env=env)
    subprocess.run(["mcopy", "-i", str(esp), str(GRUB_EFI), "::/EFI/BOOT/BOOTX64.EFI"],
                   check=True, env=env)
    stub = tmp_path / "grub.cfg"
    stub.write_text("search.fs_uuid 0b1c-uuid root\nset prefix=($root)'/boot/grub'\n")
    subprocess.run(["mcopy", "-i", str(esp), str(stub), "::/EFI/debian/grub.cfg"], check=True,
                   env=env)
    subprocess.run(["mcopy", "-i", str(esp), str(stub), "::/EFI/debian/grubx64.efi"], check=True,
                   env=env)
    found = read_esp(str(esp))
    assert found.readable and found.has("/EFI/BOOT/BOOTX64.EFI")
    assert found.loaders == {"/EFI/BOOT/BOOTX64.EFI": "x86_64", "/EFI/debian/grubx64.efi": "not-pe"}
    assert found.stubs == {"/EFI/debian/grub.cfg": "0b1c-uuid"}
    with open(esp, "r+b") as f:  # the boot sector gone: mtools says so, nothing is listed
        f.write(bytes(512))
    broken = read_esp(str(esp))
    assert not broken.readable and broken.files == []


def test_command_line_offences() -> None:
    params = split_cmdline('BOOT_IMAGE=/vmlinuz root=UUID=1 ro init=/bin/bash rd.break single '
                           'systemd.unit=emergency.target modprobe.blacklist=virtio_blk,floppy '
                           'root=/dev/sda2 rd.lvm.lv=rootvg/gone quiet="a b"')
    found = judge(params, init_exists={}, init_falls_back=True, root_drivers={"virtio_blk"},
                  volumes={"rootvg/rootlv"})
    assert [o.kind for o in found] == ["duplicate-root", "bad-init", "stops-boot", "stops-boot",
                                       "stops-boot", "blacklists-root-driver", "lvm-missing"]
    healthy = split_cmdline("root=/dev/mapper/rootvg-rootlv ro init=/lib/systemd/systemd "
                            "console=ttyS0 rd.lvm.lv=rootvg/rootlv")
    assert judge(healthy, init_exists={"/lib/systemd/systemd": True}, init_falls_back=False,
                 root_drivers={"xfs"}, volumes={"rootvg/rootlv"}) == []
    missing_init = split_cmdline("root=UUID=1 init=/sbin/nothing")
    assert judge(missing_init, init_exists={"/sbin/nothing": False}, init_falls_back=True,
                 root_drivers=set(), volumes=None) == []  # initramfs-tools falls back
    assert judge(missing_init, init_exists={"/sbin/nothing": False}, init_falls_back=False,
                 root_drivers=set(), volumes=None)[0].kind == "bad-init"  # dracut does not


words = st.text(alphabet="abcdeinrt01=./_-,", min_size=1, max_size=12).filter(
    lambda w: w.split("=")[0] != "root")


@given(st.lists(words, max_size=12), st.sets(words, max_size=4))
def test_removing_parameters_keeps_the_rest_in_order(params: list[str], drop: set[str]) -> None:
    out = without(" ".join(params), drop)
    assert out == " ".join(p for p in params if p not in drop)
    assert without(out, drop) == out


def test_a_duplicate_root_loses_its_later_copies_only() -> None:
    assert without("root=UUID=1 ro root=/dev/sda2 quiet root=/dev/sdb1", {"root=/dev/sda2"}) \
        == "root=UUID=1 ro quiet"


def test_grubenv_stays_a_1024_byte_block() -> None:
    env = "# GRUB Environment Block\nsaved_entry=abc\nkernelopts=root=UUID=1 ro rd.break\n"
    env += "#" * (1024 - len(env))
    out = _edited_grubenv(env, {"rd.break"})
    assert out is not None and len(out) == 1024
    assert b"kernelopts=root=UUID=1 ro\n" in out and b"saved_entry=abc\n" in out


def _cmdline_tree(root: Path) -> None:
    (root / "etc/default").mkdir(parents=True)
    (root / "boot/grub").mkdir(parents=True)
    (root / "etc/os-release").write_text(DEBIAN)
    (root / "etc/fstab").write_text("UUID=u / ext4 defaults 0 1\n")
    (root / "boot/vmlinuz-6.1.0-50-cloud-amd64").write_bytes(b"k")
    install_program(root, "/usr/sbin/mkinitramfs")
    (root / "etc/default/grub").write_text(
        'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n'
        'GRUB_CMDLINE_LINUX="console=ttyS0,115200n8 init=/bin/bash"\n')
    (root / "boot/grub/grub.cfg").write_text(
        "set default=\"0\"\n"
        "menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-u' {\n"
        "\tlinux\t/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=u ro console=ttyS0,115200n8 "
        "init=/bin/bash quiet\n}\n"
        "submenu 'Advanced options' $menuentry_id_option 'gnulinux-advanced-u' {\n"
        "\tmenuentry 'Debian GNU/Linux, with Linux 6.1 (recovery mode)' $menuentry_id_option "
        "'gnulinux-6.1-recovery-u' {\n"
        "\t\tlinux\t/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=u ro single console=ttyS0,115200n8 "
        "init=/bin/bash\n\t}\n}\n")


def test_bad_init_found_and_removed_everywhere_but_recovery_keeps_single(tmp_path: Path) -> None:
    _cmdline_tree(tmp_path)
    ctx = fixture_context(tmp_path, DEBIAN, fstype="ext4")
    finding = check_kernel_cmdline(ctx)
    assert (finding.ok, finding.finding) == (False, "bad-init")
    assert {o["path"] for o in finding.data["offences"]} == {"/boot/grub/grub.cfg",
                                                             "/etc/default/grub"}
    plan = plan_kernel_cmdline(ctx, finding)
    edits = {e.path: (e.content or b"").decode() for e in plan.edits}
    assert 'GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"' in edits["/etc/default/grub"]
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in edits["/etc/default/grub"]
    cfg = edits["/boot/grub/grub.cfg"]
    assert "root=UUID=u ro console=ttyS0,115200n8 quiet\n" in cfg
    assert "root=UUID=u ro single console=ttyS0,115200n8 init=/bin/bash" in cfg  # recovery
    for path, text in edits.items():
        (tmp_path / path.lstrip("/")).write_text(text)
    assert check_kernel_cmdline(fixture_context(tmp_path, DEBIAN, fstype="ext4")).ok


def test_machine_drivers_from_the_console_not_the_rescue_host() -> None:
    found = machine_drivers([("console", SERIAL_DIR / "initramfs-deleted.log")])
    assert found.drivers == ["virtio_blk", "virtio_pci"]
    assert "[1af4:1001]" in found.evidence[0]


def test_firmware_with_nothing_to_boot_is_an_ending() -> None:
    watcher = BootWatcher()
    watcher.feed("SeaBIOS (version 1.16.2-debian-1.16.2-1)\nBooting from Hard Disk..", 1.0)
    assert not watcher.expired(10.0)
    assert watcher.expired(40.0) and watcher.outcome == "no-boot-code"
    assert classify_log("SeaBIOS\nBooting from Hard Disk..")[0] == "no-boot-code"
    again = BootWatcher()
    again.feed("Booting from Hard Disk...\n", 1.0)
    again.feed("GRUB loading.\nWelcome to GRUB!\n", 2.0)
    assert not again.expired(100.0)
    # A whole recorded log: GRUB and a kernel ran after the firmware (a truncated kernel
    # that resets the machine is not "no boot code"); a stray glyph from zeros run as boot
    # code is not something that ran.
    assert classify_log("SeaBIOS\nBooting from Hard Disk...\nGRUB loading.\n"
                        "Loading Linux 6.1.0 ...\n") == ("timeout", "")
    assert classify_log("Booting from Hard Disk...GRUB loading.\n")[0] == "timeout"
    assert classify_log("SeaBIOS\nBooting from Hard Disk..\n\u263a\n")[0] == "no-boot-code"
    assert classify_log("bash: cannot set terminal process group (-1)\n"
                        "bash: no job control in this shell\nroot@(none):/# ")[0] == "init-shell"
    assert classify_log("BdsDxe: failed to load Boot0001\nUEFI Interactive Shell v2.2\n"
                        "Shell> ")[0] == "uefi-shell"


RHEL = 'ID="rhel"\nVERSION_ID="9.4"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4"\nID_LIKE="fedora"\n'
RHEL_KERNELS = ("5.14.0-427.el9.x86_64", "5.14.0-362.el9.x86_64")


def _bls_tree(root: Path, kernelopts: str) -> None:
    """A RHEL 9 layout: BLS entries whose options say $kernelopts, grubenv holding them."""
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text(RHEL)
    (root / "etc/fstab").write_text("UUID=u / xfs defaults 0 0\n")
    install_program(root, "/usr/bin/dracut")
    entries = root / "boot/loader/entries"
    entries.mkdir(parents=True)
    for version in RHEL_KERNELS:
        (root / f"boot/vmlinuz-{version}").write_bytes(b"k")
        (root / f"lib/modules/{version}").mkdir(parents=True)
        (entries / f"abc-{version}.conf").write_text(
            f"title Red Hat Enterprise Linux ({version})\nversion {version}\n"
            f"linux /boot/vmlinuz-{version}\ninitrd /boot/initramfs-{version}.img $tuned_initrd\n"
            "options $kernelopts $tuned_params\n")
    (root / f"boot/initramfs-{RHEL_KERNELS[0]}.img").write_bytes(b"i")
    (root / "boot/grub2").mkdir()
    env = f"# GRUB Environment Block\nsaved_entry=abc-{RHEL_KERNELS[0]}\nkernelopts={kernelopts}\n"
    (root / "boot/grub2/grubenv").write_text(env + "#" * (1024 - len(env)))


def test_bls_entries_their_initramfs_and_kernelopts_root(tmp_path: Path) -> None:
    from rescuetui.checks.bls import check_bls
    from rescuetui.fixes.bls import plan_bls

    _bls_tree(tmp_path, "root=/dev/sdb3 ro crashkernel=auto")
    (tmp_path / f"boot/initramfs-{RHEL_KERNELS[1]}.img").write_bytes(b"i")
    ctx = fixture_context(tmp_path, RHEL)
    found = check_bls(ctx)
    assert (found.ok, found.finding) == (False, "mismatch"), found.summary
    plan = plan_bls(ctx, found)
    (edit,) = plan.edits
    assert edit.path == "/boot/grub2/grubenv" and edit.content is not None
    assert len(edit.content) == 1024
    assert b"kernelopts=root=UUID=u ro crashkernel=auto\n" in edit.content
    (tmp_path / "boot/grub2/grubenv").write_bytes(edit.content)
    assert check_bls(fixture_context(tmp_path, RHEL)).ok
    # The older kernel's initramfs gone: rebuilt for that kernel, by dracut, not host-only.
    (tmp_path / f"boot/initramfs-{RHEL_KERNELS[1]}.img").unlink()
    ctx = fixture_context(tmp_path, RHEL)
    found = check_bls(ctx)
    assert found.finding == "initrd-missing" and found.data["version"] == RHEL_KERNELS[1]
    steps = [s.argv for s in plan_bls(ctx, found).steps]
    assert steps[-1][:3] == ["dracut", "--force", "--no-hostonly"] and steps[-1][-1] == RHEL_KERNELS[1]


def test_a_healthy_lvm_root_in_kernelopts_is_left_alone(tmp_path: Path) -> None:
    from rescuetui.checks.bls import check_bls
    from rescuetui.checks.kernel_cmdline import check_kernel_cmdline

    _bls_tree(tmp_path, "root=/dev/mapper/rootvg-rootlv ro rd.lvm.lv=rootvg/rootlv")
    (tmp_path / f"boot/initramfs-{RHEL_KERNELS[1]}.img").write_bytes(b"i")
    ctx = fixture_context(tmp_path, RHEL)
    ctx.target.root_specs = ["UUID=u", "/dev/mapper/rootvg-rootlv", "/dev/rootvg/rootlv"]
    assert check_bls(ctx).ok
    assert check_kernel_cmdline(ctx).ok


def test_disk_drivers_from_the_systems_own_logs_of_earlier_boots(tmp_path: Path) -> None:
    from rescuetui.diagnose.target_logs import target_evidence

    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "var/log/kern.log").write_text(
        "Nov 30 10:00:01 vm kernel: [    0.000000] Hypervisor detected: Microsoft Hyper-V\n"
        "Nov 30 10:00:02 vm kernel: [    1.2] scsi host0: storvsc_host_t\n"
        "Nov 30 10:00:02 vm kernel: [    1.3] sd 0:0:0:0: [sda] 62914560 512-byte blocks\n")
    with target_evidence(tmp_path) as evidence:
        found = machine_drivers(evidence.sources)
    assert found.drivers == ["hv_vmbus", "hv_storvsc"]
    assert found.hypervisor == "Microsoft Hyper-V"
    assert found.evidence[0].startswith("/var/log/kern.log: ")


def test_modules_dep_is_a_finding_and_becomes_most(tmp_path: Path) -> None:
    from rescuetui.checks.base import Finding
    from rescuetui.checks.initramfs import host_only_generator
    from rescuetui.fixes.initramfs import plan_initramfs_rebuild

    _cmdline_tree(tmp_path)
    conf = tmp_path / "etc/initramfs-tools"
    conf.mkdir(parents=True)
    (conf / "initramfs.conf").write_text("# comment\nMODULES=dep\nBUSYBOX=auto\n")
    (conf / "modules").write_text("# modules\n")
    ctx = fixture_context(tmp_path, DEBIAN, fstype="ext4")
    found = host_only_generator(ctx)
    assert found == ["MODULES=dep in /etc/initramfs-tools/initramfs.conf"]
    plan = plan_initramfs_rebuild(ctx, Finding("initramfs", False, "lacks-driver", "x", data={
        "path": "/boot/initrd.img-6.1.0-50-cloud-amd64", "modules": ["virtio_blk"],
        "host_only": found}))
    edits = {e.path: (e.content or b"").decode() for e in plan.edits}
    assert "\nMODULES=most\n" in edits["/etc/initramfs-tools/initramfs.conf"]
    assert "BUSYBOX=auto" in edits["/etc/initramfs-tools/initramfs.conf"]
    assert edits["/etc/initramfs-tools/modules"].endswith("virtio_blk\n")
    assert [s.argv[0] for s in plan.steps] == ["depmod", "update-initramfs"]


def test_lvm_volumes_named_in_fstab_by_mapper_path_count(tmp_path: Path) -> None:
    """rd.lvm.lv=rootvg/swap-lv is fine when fstab names that volume as /dev/mapper/...;
    a volume named nowhere is not."""
    from rescuetui.checks.kernel_cmdline import check_kernel_cmdline, logical_volumes

    _bls_tree(tmp_path, "root=/dev/mapper/rootvg-rootlv ro rd.lvm.lv=rootvg/rootlv "
                        "rd.lvm.lv=rootvg/swap-lv")
    (tmp_path / f"boot/initramfs-{RHEL_KERNELS[1]}.img").write_bytes(b"i")
    (tmp_path / "etc/fstab").write_text("/dev/mapper/rootvg-rootlv / xfs defaults 0 0\n"
                                        "/dev/mapper/rootvg-swap--lv none swap defaults 0 0\n")
    ctx = fixture_context(tmp_path, RHEL)
    ctx.target.root_specs = ["UUID=u", "/dev/mapper/rootvg-rootlv", "/dev/rootvg/rootlv"]
    for entry in ctx.target.fstab:  # the volumes are open, as a repair would have them
        object.__setattr__(entry, "device", "/dev/dm-0")
    assert logical_volumes(ctx) == {"rootvg/rootlv", "rootvg/swap-lv"}
    assert check_kernel_cmdline(ctx).ok
    ctx.target.fstab = ctx.target.fstab[:1]
    found = check_kernel_cmdline(ctx)
    assert found.finding == "lvm-missing" and "rootvg/swap-lv" in found.summary
