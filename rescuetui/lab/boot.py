"""Boots a disk image under qemu on a throwaway overlay and tells how the boot ended.

The serial console is read as it comes; qemu is stopped as soon as the outcome is known: a login
prompt, a kernel panic, an initramfs shell, systemd's emergency mode, a GRUB error, or a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# reboot: the machine reset by itself before any outcome (qemu runs with -no-reboot, so it
# exits): a kernel that cannot even start, like a truncated image, does that.
OUTCOMES = ("login", "panic", "initramfs-shell", "initramfs-wait", "emergency", "grub-error",
            "init-shell", "no-boot-code", "uefi-shell", "reboot", "timeout")
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>78cDEHM]")
# (outcome, pattern) in the order they are checked; each decides the boot at once.
DECISIVE = (
    ("panic", re.compile(r"Kernel panic - not syncing")),
    # initramfs-tools' busybox shell, and dracut's emergency shell (dracut-emergency).
    ("initramfs-shell", re.compile(r"^\(initramfs\) ?$|Dropping to a shell|"
                                   r"Entering emergency mode\. Exit the shell to continue|"
                                   r"^dracut:/# ?$")),
    # dracut gave up waiting for the root device (rd.retry) and runs its timeout scripts; where
    # the device job has no time limit (Debian's dracut) it waits so forever, no shell follows.
    ("initramfs-wait", re.compile(r"dracut-initqueue: starting timeout scripts")),
    ("emergency", re.compile(r"You are in emergency mode|Give root password for maintenance|"
                             r"Cannot open access to console, the root account is locked")),
    ("grub-error", re.compile(r"you need to load the kernel first|^grub rescue> ?$|"
                              r"Minimal BASH-like line editing is supported")),
    # init=/bin/bash (or sh): a root shell on the console, no services, no login. dash says it
    # differently (the initramfs falls back to /bin/sh when the root has no /sbin/init).
    ("init-shell", re.compile(r"no job control in this shell|^root@\(none\):/# ?$|"
                              r"can't access tty; job control turned off")),
    # The firmware found nothing to boot: SeaBIOS, and OVMF when no loader is on the disk.
    ("no-boot-code", re.compile(r"Boot failed: not a bootable disk|No bootable device|"
                                r"No bootable option or device was found")),
    ("uefi-shell", re.compile(r"^Shell> ?$|UEFI Interactive Shell")),
    ("login", re.compile(r"\blogin: ?$")),
)
# GRUB errors that may still be followed by a boot (a missing initrd: the kernel then panics).
GRUB_ERROR = re.compile(r"^error: .+")
GRUB_GRACE_SECONDS = 30.0
# SeaBIOS prints this and then nothing when the MBR holds no boot code: silence for this long
# after it (no GRUB, no kernel) is the outcome.
FIRMWARE_HANDOVER = re.compile(r"Booting from Hard Disk|Booting from Floppy")
WORD = re.compile(r"[A-Za-z0-9]")
SILENCE_SECONDS = 25.0
# Seconds to keep reading after the outcome is known, so the log holds the panic's trace.
TAIL_SECONDS = 2.0
# With keep_changes, the guest runs this long after the outcome, so that its kernel writes its
# dirty pages (the journal of the failed boot) back to the disk: like an operator who waits a
# little before switching the machine off. Linux writes back pages older than 30 s.
SETTLE_SECONDS = 40.0
# The kernel's first line ("Linux version 6.1.0-50-cloud-amd64 (debian-kernel@...) ..."); not
# anchored: on a serial line it may follow what GRUB left without a newline.
KERNEL_BANNER = re.compile(r"\bLinux version (\d\S*) \(")


@dataclass
class BootResult:
    outcome: str
    seconds: float
    log: str
    evidence: str  # the console line that decided the outcome

    @property
    def kernel(self) -> str | None:
        """The kernel that booted, from its "Linux version" banner (the last one: a machine
        that reset boots again); None when no kernel started."""
        found = KERNEL_BANNER.findall(self.log)
        return found[-1] if found else None

    def to_json(self) -> dict[str, object]:
        return {"outcome": self.outcome, "seconds": round(self.seconds, 1),
                "evidence": self.evidence, "kernel": self.kernel,
                "log_lines": self.log.count("\n")}


def clean_console(raw: bytes) -> str:
    """Serial output as plain text: escape sequences, CRs and NULs removed."""
    text = ANSI.sub(b"", raw).replace(b"\r", b"").replace(b"\x00", b"")
    return text.decode("utf-8", "replace")


class BootWatcher:
    """Reads console text as it arrives and decides the outcome; no I/O of its own, so the same
    rules apply to a live boot and to a recorded serial log."""

    def __init__(self) -> None:
        self.text = ""
        self.outcome: str | None = None
        self.evidence = ""
        self.grub_error_at: float | None = None
        self.grub_error_line = ""
        self.handover_at: float | None = None  # the firmware said it hands over to the disk
        self.handover_line = ""
        self._checked = 0  # offset of the first line not yet checked

    def feed(self, chunk: str, now: float) -> str | None:
        self.text += chunk
        if self.outcome:
            return self.outcome
        lines = self.text[self._checked:].split("\n")
        # The last piece has no newline yet; a prompt (`login: `) waits there, so check it too,
        # but check it again when more arrives.
        for index, line in enumerate(lines):
            complete = index < len(lines) - 1
            for outcome, pattern in DECISIVE:
                if pattern.search(line):
                    self.outcome, self.evidence = outcome, line.strip()
                    return outcome
            self._watch_handover(line, now)
            if complete:
                if GRUB_ERROR.match(line) and self.grub_error_at is None:
                    self.grub_error_at, self.grub_error_line = now, line.strip()
                elif self.grub_error_at is not None and "Linux version" in line:
                    self.grub_error_at = None  # the kernel started after all
                self._checked += len(line) + 1
        return None

    def _watch_handover(self, line: str, now: float) -> None:
        """Note when the firmware hands over to the disk, and forget it when something runs
        after it. SeaBIOS leaves "Booting from Hard Disk.." without a newline when nothing
        follows (GRUB may write on the same line); zeros run as boot code can print a stray
        glyph before the CPU resets: only words count as something that ran."""
        handover = next(reversed(list(FIRMWARE_HANDOVER.finditer(line))), None)
        after = line[handover.end():] if handover else line
        if handover and not WORD.search(after):
            if self.handover_at is None:
                self.handover_at, self.handover_line = now, line.strip()
        elif WORD.search(after):
            self.handover_at = None

    def expired(self, now: float) -> bool:
        """A GRUB error with nothing after it for a while is the outcome."""
        if self.grub_error_at is not None and now - self.grub_error_at > GRUB_GRACE_SECONDS:
            self.outcome, self.evidence = "grub-error", self.grub_error_line
            return True
        if self.handover_at is not None and now - self.handover_at > SILENCE_SECONDS:
            self.outcome = "no-boot-code"
            self.evidence = f"{self.handover_line} and then nothing for {SILENCE_SECONDS:.0f} s"
            return True
        return False


def classify_log(text: str) -> tuple[str, str]:
    """The outcome of a recorded serial log: (outcome, evidence line)."""
    watcher = BootWatcher()
    watcher.feed(text, 0.0)
    if watcher.outcome:
        return watcher.outcome, watcher.evidence
    if watcher.grub_error_at is not None:
        return "grub-error", watcher.grub_error_line
    if watcher.handover_at is not None:
        return "no-boot-code", f"{watcher.handover_line} and then nothing"
    return "timeout", ""


FIRMWARES = ("bios", "uefi")
# OVMF (Debian package ovmf): the code read-only, the variables (NVRAM) a fresh copy per boot.
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


def qemu_argv(disk: Path, memory_mb: int = 1024, sercon: Path | None = None, *,
              firmware: str = "bios", nvram: Path | None = None) -> list[str]:
    """`sercon` (BIOS): a file holding the serial port's I/O address, which makes SeaBIOS print
    its own messages ("Booting from Hard Disk...") on the serial line of a machine without VGA.
    `nvram` (UEFI): this boot's own copy of OVMF's variables, written by the firmware."""
    if firmware == "bios":
        machine = ["-fw_cfg", f"name=etc/sercon-port,file={sercon}"] if sercon else []
    elif firmware == "uefi":
        if nvram is None:
            raise ValueError("a UEFI boot needs its own NVRAM file (a copy of OVMF_VARS)")
        machine = [
            "-machine", "q35",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={nvram}",
        ]
    else:
        raise ValueError(f"firmware is one of {', '.join(FIRMWARES)}, not {firmware!r}")
    return [
        "qemu-system-x86_64", "-accel", "tcg", "-m", str(memory_mb), "-smp", "1",
        *machine,
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", "stdio", "-monitor", "none",
        "-drive", f"file={disk},if=virtio,format=qcow2,cache=unsafe",
    ]


def fresh_nvram(directory: Path) -> Path:
    """A copy of OVMF's empty variable store: the disk boots as on a machine that has never
    seen it (only the fallback loader \\EFI\\BOOT\\BOOTX64.EFI is found)."""
    for needed in (OVMF_CODE, OVMF_VARS):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} is missing: install OVMF (`apt-get install ovmf`) "
                                    "to boot UEFI disks")
    path = directory / "OVMF_VARS.fd"
    shutil.copyfile(OVMF_VARS, path)
    return path


def sercon_file(directory: Path) -> Path:
    path = directory / "sercon-port"
    path.write_bytes((0x3F8).to_bytes(8, "little"))  # COM1
    return path


async def boot_async(
    image: Path, *, timeout: float = 300.0, on_text: object = None, keep_changes: bool = False,
    firmware: str = "bios",
) -> BootResult:
    """Boot `image` (raw) on a qcow2 overlay in a temporary directory; the image is not changed,
    unless `keep_changes`: then what the boot wrote (its journal, say) is committed into it, as
    if the machine had been switched off. `firmware`: "bios" (SeaBIOS) or "uefi" (OVMF, with
    a fresh NVRAM every boot)."""
    if firmware not in FIRMWARES:
        raise ValueError(f"firmware is one of {', '.join(FIRMWARES)}, not {firmware!r}")
    with tempfile.TemporaryDirectory(prefix="rescuetui-boot-") as tmp:
        overlay = Path(tmp) / "overlay.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        str(image.resolve()), str(overlay)], check=True)
        if firmware == "uefi":
            argv = qemu_argv(overlay, firmware="uefi", nvram=fresh_nvram(Path(tmp)))
        else:
            argv = qemu_argv(overlay, sercon=sercon_file(Path(tmp)))
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        watcher = BootWatcher()
        start = time.monotonic()
        decided_at: float | None = None
        tail = SETTLE_SECONDS if keep_changes else TAIL_SECONDS
        raw = b""
        try:
            while True:
                now = time.monotonic()
                if decided_at is not None and now - decided_at > tail:
                    break
                if now - start > timeout:
                    break
                try:
                    chunk = await asyncio.wait_for(proc.stdout.read(4096), 0.5)
                except TimeoutError:
                    chunk = b""
                if not chunk and proc.stdout.at_eof():
                    break
                raw += chunk
                text = clean_console(chunk)
                if callable(on_text) and text:
                    on_text(text)
                now = time.monotonic()
                if decided_at is None and ((text and watcher.feed(text, now))
                                           or watcher.expired(now)):
                    decided_at = now
                    seconds = now - start
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if keep_changes:
            subprocess.run(["qemu-img", "commit", "-q", str(overlay)], check=True)
        if decided_at is None:
            seconds = time.monotonic() - start
            log = clean_console(raw)
            outcome, evidence = classify_log(log)
            if outcome == "no-boot-code":
                evidence += " but a reset (garbage run as boot code)"
            elif outcome != "grub-error":
                if seconds < timeout:
                    last = [line for line in log.splitlines() if line.strip()][-1:]
                    outcome = "reboot"
                    evidence = f"the machine reset after: {last[0].strip() if last else '(nothing)'}"
                else:
                    outcome, evidence = "timeout", f"no outcome within {timeout:.0f} s"
            return BootResult(outcome, seconds, log, evidence)
        assert watcher.outcome is not None
        return BootResult(watcher.outcome, seconds, clean_console(raw), watcher.evidence)


def boot(image: Path, *, timeout: float = 300.0, keep_changes: bool = False,
         firmware: str = "bios") -> BootResult:
    return asyncio.run(boot_async(image, timeout=timeout, keep_changes=keep_changes,
                                  firmware=firmware))
