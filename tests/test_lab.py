"""The practice lab: scenario modules, the boot-outcome rules on recorded serial logs, and
scenario images built for real from the practice base."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rescuetui.core.journal import Journal
from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.lab.boot import OUTCOMES, BootWatcher, classify_log, clean_console
from rescuetui.lab.scenario import build_scenario
from rescuetui.lab.scenarios import SCENARIOS

SERIAL = Path(__file__).parent / "data" / "serial"
# The panic classes the diagnosis names (issue: Diagnosis).
CLASSES = {"vfs-root", "initramfs-root-missing", "initramfs-corrupt", "init-killed", "oops",
           "kernel-bug", "lockup", "oom", "nmi-mce", "sysrq-crash", "module-sig",
           "fs-boot-error", "grub", "selinux", "boot-stopped", "unknown"}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_modules_are_complete(name: str) -> None:
    s = SCENARIOS[name]
    assert s.name == name and s.title and s.symptom and len(s.hints) >= 2
    assert s.expected_outcome in OUTCOMES and s.expected_outcome != "login"
    assert s.expected_class in CLASSES
    # Exactly one way to break it.
    assert [s.break_mounted, s.break_device, s.break_image].count(None) == 2
    if s.break_image is not None:  # the image is worked on directly: only where LVM needs it
        assert s.base == "xfslvm"


# Serial logs recorded from real qemu boots of the practice base and of scenario images.
RECORDED = {
    "login.log": ("login", "practice login:"),
    "initramfs-deleted.log": ("panic", "VFS: Unable to mount root fs on unknown-block(0,0)"),
    "library-deleted.log": ("panic", "Attempted to kill init! exitcode=0x00007f00"),
    "loader-not-executable.log": ("panic", "Attempted to kill init! exitcode=0x00000100"),
    "fstab-missing-disk.log": ("emergency", "You are in emergency mode"),
    "root-fs-errors.log": ("initramfs-shell", "(initramfs)"),
    "mbr-zeroed.log": ("no-boot-code", "Booting from Hard Disk"),
    "bad-init.log": ("init-shell", "no job control in this shell"),
    "grub-cfg-deleted.log": ("grub-error", "Minimal BASH-like line editing"),
    "grub-modules-deleted.log": ("grub-error", "grub rescue>"),
    "initramfs-no-disk-driver.log": ("initramfs-shell", "Dropping to a shell"),
    "esp-loader-deleted.log": ("uefi-shell", "UEFI Interactive Shell"),
    "esp-damaged.log": ("uefi-shell", "UEFI Interactive Shell"),
    "esp-fstab-wrong.log": ("emergency", "You are in emergency mode"),
    "dracut-initramfs-deleted.log": ("panic", "VFS: Unable to mount root fs on unknown-block(0,0)"),
    "dracut-initramfs-truncated.log": ("panic", "No working init found"),
    "dracut-rd-break.log": ("initramfs-shell", "Entering emergency mode"),
    "dracut-root-uuid-wrong.log": ("initramfs-wait", "starting timeout scripts"),
    "init-target-deleted.log": ("init-shell", "can't access tty; job control turned off"),
    "module-panic.log": ("panic", "RIP: 0010:acme_monitor_init+0x18/0x1000 [acme_monitor]"),
    "newest-kernel-panics.log": ("panic", "Modules linked in: acme_monitor(OE+)"),
    "xfs-lvm-initramfs-deleted.log": ("panic",
                                      "VFS: Unable to mount root fs on unknown-block(0,0)"),
    "xfs-lvm-log-lost.log": ("initramfs-shell", "Entering emergency mode"),
    "xfs-lvm-dirty-log.log": ("panic", "VFS: Unable to mount root fs on unknown-block(0,0)"),
    # dracut gives up waiting (its timeout scripts) minutes before its emergency shell.
    "xfs-lvm-initramfs-no-lvm.log": ("initramfs-wait", "starting timeout scripts"),
}


@pytest.mark.parametrize("log", sorted(RECORDED))
def test_recorded_boots_are_classified(log: str) -> None:
    outcome, evidence = classify_log((SERIAL / log).read_text())
    expected_outcome, evidence_part = RECORDED[log]
    assert outcome == expected_outcome
    if outcome == "panic":
        text = (SERIAL / log).read_text()
        assert evidence_part in text
    else:
        assert evidence_part in evidence


def test_truncated_kernel_log_has_no_decisive_line() -> None:
    """GRUB loads a truncated kernel without complaint; the machine just resets. The recorded
    log has no outcome of its own: the boot runner calls that a reboot."""
    assert classify_log((SERIAL / "kernel-truncated.log").read_text()) == ("timeout", "")


def test_prompt_without_newline_and_split_chunks() -> None:
    watcher = BootWatcher()
    assert watcher.feed("Debian GNU/Linux 12 practice ttyS0\n\nprac", 1.0) is None
    assert watcher.feed("tice login: ", 2.0) == "login"
    assert watcher.evidence == "practice login:"


def test_grub_error_then_kernel_is_not_a_grub_failure() -> None:
    watcher = BootWatcher()
    watcher.feed("error: file `/initrd.img-6.1.0' not found.\n", 1.0)
    watcher.feed("[    0.000000] Linux version 6.1.0 (debian-kernel@lists.debian.org)\n", 2.0)
    assert not watcher.expired(100.0)
    assert watcher.feed("Kernel panic - not syncing: VFS: Unable to mount root fs\n", 3.0) == "panic"


def test_grub_error_alone_expires_into_grub_error() -> None:
    watcher = BootWatcher()
    watcher.feed("error: premature end of file /vmlinuz-6.1.0.\n", 1.0)
    assert not watcher.expired(10.0)
    assert watcher.expired(40.0) and watcher.outcome == "grub-error"


def test_emergency_and_initramfs_shell() -> None:
    assert classify_log("You are in emergency mode. After logging in, type ...\n")[0] == "emergency"
    assert classify_log("Gave up waiting for root file system device.\n"
                        "ALERT!  UUID=x does not exist.  Dropping to a shell!\n")[0] == (
        "initramfs-shell")
    assert classify_log("(initramfs) ")[0] == "initramfs-shell"


def test_console_cleaning() -> None:
    raw = b"\x1b[2J\x1b[1;1H\x1b[0mGNU GRUB\r\n\x00login: "
    assert clean_console(raw) == "GNU GRUB\nlogin: "


@pytest.mark.root
@pytest.mark.slow
def test_scenario_images_are_really_broken(tmp_path: Path) -> None:
    """Build three scenarios from the practice base and look at the damage on the disk."""
    journal = tmp_path / "journal"
    image = tmp_path / "initramfs.img"
    (done,) = build_scenario(SCENARIOS["initramfs-deleted"], image, journal_base=journal)
    assert done.startswith("deleted /boot/initrd.img-")
    with RescueSession(journal_base=journal) as session:
        target = session.open_target(str(image))
        assert target.kernels and target.kernels[0].initramfs_size is None
        assert (session.root / "boot/grub/grub.cfg").is_file()
        assert f"root=UUID={target.uuid}" in (session.root / "boot/grub/grub.cfg").read_text()

    image = tmp_path / "loader.img"
    build_scenario(SCENARIOS["loader-not-executable"], image, journal_base=journal)
    with RescueSession(journal_base=journal) as session:
        session.open_target(str(image))
        loader = resolve_in_root(session.root, "/lib64/ld-linux-x86-64.so.2")
        assert loader.stat().st_mode & 0o111 == 0
        assert Path("/lib64/ld-linux-x86-64.so.2").stat().st_mode & 0o111  # the host's: intact
    changes = [r for d in journal.iterdir() for r in Journal.open(d).records()
               if r["kind"] == "file-change" and r["reason"].startswith("lab:")]
    assert {c["reason"] for c in changes} == {"lab: initramfs deleted",
                                             "lab: loader not executable"}

    image = tmp_path / "fsck.img"
    build_scenario(SCENARIOS["root-fs-errors"], image, journal_base=journal)
    loop = subprocess.run(["losetup", "--find", "--show", "--partscan", "--read-only",
                           str(image)], capture_output=True, text=True, check=True).stdout.strip()
    try:
        subprocess.run(["partx", "-u", loop], check=False, capture_output=True)
        check = subprocess.run(["e2fsck", "-n", "-f", f"{loop}p2"], capture_output=True,
                               text=True, check=False)
        assert check.returncode == 4, check.stdout  # errors left uncorrected
        assert "Multiply-claimed" in check.stdout
    finally:
        subprocess.run(["losetup", "--detach", loop], check=True)


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.boot
def test_practice_base_boots_to_login() -> None:
    """The unbroken base under qemu (software emulation): GRUB, kernel, systemd, `login:`."""
    import shutil

    from rescuetui.lab.boot import boot
    from rescuetui.lab.practice import practice_base

    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86 is not installed (run `make setup`)")
    result = boot(practice_base(), timeout=240)
    assert result.outcome == "login", result.log[-2000:]
    assert "practice login:" in result.evidence


def test_lab_list_names_every_scenario() -> None:
    from conftest import rescuetui

    out = rescuetui("lab", "list")
    assert out.returncode == 0
    for name in SCENARIOS:
        assert name.encode() in out.stdout


@pytest.mark.root
@pytest.mark.slow
def test_practice_records_the_console_of_the_failed_boot(tmp_path: Path) -> None:
    """Training starts where a real rescue does: with the console of the failed boot. The
    practice disk is booted once for real (on a throwaway overlay: the disk stays broken)."""
    import shutil

    from rescuetui.diagnose.classifier import diagnose_file
    from rescuetui.screens.practice import prepare_practice

    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86 is not installed (run `make setup`)")
    image, console = prepare_practice("initramfs-deleted", tmp_path)
    assert "VFS: Unable to mount root fs" in console.read_text()
    assert diagnose_file(console).class_id == "vfs-root"
    assert image.name == "practice-initramfs-deleted.img" and image.is_file()


def test_the_unreplayable_xfs_log_is_what_stopped_the_recorded_boot() -> None:
    """The recorded console of xfs-lvm-log-lost: the kernel tried to replay the root volume's
    log when the initramfs mounted it, failed, and dracut stopped (not a merely dirty log,
    which the same boot replays and goes on)."""
    text = (SERIAL / "xfs-lvm-log-lost.log").read_text()
    assert "root=/dev/mapper/rootvg-rootlv rd.lvm.lv=rootvg/rootlv" in text
    assert "XFS (dm-0): log mount/recovery failed: error -117" in text
    assert "Failed to mount sysroot.mount" in text
    assert "Ending recovery" not in text


@pytest.mark.root
@pytest.mark.slow
def test_xfs_lvm_scenarios_are_built_on_the_image_without_device_mapper(tmp_path: Path) -> None:
    """The XFS-on-LVM base and three of its scenarios, built and broken through loop devices at the
    volume's offset (no volume activated): the metadata names rootvg/rootlv, the root volume is
    XFS with the RHEL-like fstab and command line; one disk lost its initramfs, one's root
    volume has a log that cannot be replayed, one's a dirty log and a cut initramfs."""
    from rescuetui.checks.filesystems import check_filesystem
    from rescuetui.core.lvm import only_devices
    from rescuetui.core.runner import CommandRunner
    from rescuetui.lab.xfslvm import ROOT_DEVICE, loop, mounted_boot, mounted_root, root_volume

    image = tmp_path / "deleted.img"
    (done,) = build_scenario(SCENARIOS["xfs-lvm-initramfs-deleted"], image)
    kernel = done.removeprefix("deleted /boot/initrd.img-")
    with loop(image, partscan=True, read_only=True) as disk:
        assert subprocess.run(["lvs", "--config", only_devices([f"{disk}p2"]), "--noheadings",
                               "-o", "vg_name,lv_name"], capture_output=True, text=True,
                              check=True).stdout.split() == ["rootvg", "rootlv"]
    with mounted_boot(image, tmp_path / "boot") as boot:
        assert (boot / f"vmlinuz-{kernel}").is_file()
        assert not (boot / f"initrd.img-{kernel}").exists()
        assert f"root={ROOT_DEVICE} rd.lvm.lv=rootvg/rootlv" in (boot / "grub/grub.cfg").read_text()
    with mounted_root(image, tmp_path / "root", "-o", "ro") as root:
        assert f"{ROOT_DEVICE} / xfs" in (root / "etc/fstab").read_text()
        assert (root / "sbin/lvm").exists() and (root / "usr/bin/dracut").exists()

    image = tmp_path / "log.img"
    build_scenario(SCENARIOS["xfs-lvm-log-lost"], image)
    offset, size = root_volume(image)
    with loop(image, offset=offset, size=size, read_only=True) as device:
        finding = check_filesystem(CommandRunner(), device, "xfs")
        assert not finding.ok and finding.finding == "bad-log", finding

    # The power cut during an update: the log is dirty (a mount could replay it), and the
    # initramfs is a third of what it was.
    image = tmp_path / "dirty.img"
    (done,) = build_scenario(SCENARIOS["xfs-lvm-dirty-log"], image)
    offset, size = root_volume(image)
    with loop(image, offset=offset, size=size, read_only=True) as device:
        finding = check_filesystem(CommandRunner(), device, "xfs")
        assert not finding.ok and finding.finding == "dirty-log", finding
    with mounted_boot(image, tmp_path / "dirty-boot", read_only=True) as boot:
        cut = int(done.rsplit(" to ", 1)[1].split()[0])
        assert (boot / f"initrd.img-{kernel}").stat().st_size == cut
