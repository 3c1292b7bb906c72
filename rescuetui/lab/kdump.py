"""A practice system with kdump: the BIOS practice base with kdump-tools and crash kernel memory
reserved, so that a panic leaves /var/crash/STAMP/dmesg.STAMP on its disk; and a boot that runs
until the crash kernel has saved the dump and reset the machine."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
import time
from pathlib import Path

from rescuetui.core.errors import RescueError
from rescuetui.core.rootpath import resolve_in_root
from rescuetui.core.session import RescueSession
from rescuetui.lab.boot import clean_console, qemu_argv, sercon_file
from rescuetui.lab.debian import CACHE
from rescuetui.lab.faulty_module import NAME
from rescuetui.lab.practice import (
    base_image_path,
    cached_base,
    copy_image,
    practice_base,
    root_by_uuid,
    run_in_chroot,
)

PACKAGES = ("kdump-tools", "makedumpfile")
GRUB_SNIPPET = "/etc/default/grub.d/kdump-tools.cfg"
# kdump-tools asks for 128 MiB on a machine of this size: too little for the crash kernel with
# a whole initramfs under qemu.
CRASHKERNEL = "crashkernel=256M"
KDUMP_DIR = "/var/lib/kdump"
# A vendor's service that loads its module once the system runs (after kdump is armed).
SERVICE = "/etc/systemd/system/acme-monitor.service"
SERVICE_TEXT = f"""[Unit]
Description=ACME monitoring agent
After=kdump-tools.service

[Service]
Type=oneshot
ExecStart=/sbin/modprobe {NAME}
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
"""
RECIPE = "1"


def kdump_base_path(cache: Path = CACHE) -> Path:
    recipe = f"{RECIPE} {base_image_path(cache).name} {PACKAGES} {CRASHKERNEL}"
    return cache / f"kdump-base-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}.img"


def kdump_base(cache: Path = CACHE) -> Path:
    """The cached kdump practice base, built when missing (a download of kdump-tools)."""
    return cached_base(kdump_base_path(cache), lambda partial: install_kdump(partial, cache))


def install_kdump(image: Path, cache: Path = CACHE) -> None:
    copy_image(practice_base(cache), image)
    with RescueSession(journal_base=cache / "journal") as session:
        target = session.open_target(str(image))
        session.make_writable()
        assert session.journal is not None and target.uuid is not None
        kernel = target.kernels[0].version
        run_in_chroot(session, ["apt-get", "update", "-q"])
        run_in_chroot(session, ["apt-get", "install", "-y", "-q", *PACKAGES])
        run_in_chroot(session, ["apt-get", "clean"])
        snippet = resolve_in_root(session.root, GRUB_SNIPPET).read_text()
        session.journal.change_file(
            session.root, GRUB_SNIPPET,
            re.sub(r"crashkernel=\S+?(?=[\"\s])", CRASHKERNEL, snippet).encode(),
            reason="practice base: crash kernel memory for qemu")
        # kdump-tools' hook builds the crash kernel's initramfs with MODULES=dep: from this chroot
        # that is the loop device's drivers, not the VM's. Take most, as the system's own. (On
        # its first boot, kdump-config generated it once more on the VM itself, in about 150 s
        # under TCG; this one is what a crash kernel gets should it not.)
        run_in_chroot(session, ["/etc/kernel/postinst.d/kdump-tools", kernel])
        session.journal.change_file(session.root, f"{KDUMP_DIR}/initramfs-tools/conf.d/zzz-kdump",
                                    b"MODULES=most\n", reason="practice base: crash initramfs")
        run_in_chroot(session, ["mkinitramfs", "-d", f"{KDUMP_DIR}/initramfs-tools", "-o",
                                f"{KDUMP_DIR}/initrd.img-{kernel}", kernel])
        run_in_chroot(session, ["update-grub"])
        root_by_uuid(session, target.uuid)


def arm_vendor_service(session: RescueSession) -> str:
    """The module loaded by a vendor's service after kdump is armed (not by modules-load.d,
    which runs before kdump-tools and in the crash kernel too)."""
    assert session.journal is not None
    session.journal.change_file(session.root, SERVICE, SERVICE_TEXT.encode(),
                                reason=f"lab: a service that loads {NAME}", mode=0o644)
    wants = "/etc/systemd/system/multi-user.target.wants"
    resolve_in_root(session.root, wants).mkdir(exist_ok=True)
    run_in_chroot(session, ["ln", "-sf", SERVICE, f"{wants}/acme-monitor.service"])
    return f"{SERVICE} loads {NAME} once kdump is armed"


def boot_until_dumped(image: Path, timeout: float = 600.0) -> str:
    """Boot the raw `image` itself (its changes stay: the dump is the point) until the machine
    resets (the crash kernel reboots after saving), and return the console."""
    with tempfile.TemporaryDirectory(prefix="rescuetui-kdump-") as tmp:
        argv = qemu_argv(image, sercon=sercon_file(Path(tmp)))
        argv = [a.replace("format=qcow2", "format=raw") for a in argv]
        started = time.monotonic()
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout, check=False)
            raw = done.stdout
        except subprocess.TimeoutExpired as exc:
            raise RescueError(f"The kdump boot of {image} did not end within {timeout:.0f} s "
                              f"({time.monotonic() - started:.0f} s).") from exc
    return clean_console(raw)
