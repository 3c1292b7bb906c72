"""The EFI system partition read with mtools: its loaders and stub configs, without the host
kernel mounting an untrusted FAT filesystem (and where the rescue kernel has no vfat at all)."""

from __future__ import annotations

import os
import re
import struct
import subprocess
from dataclasses import dataclass, field
from typing import Any

from rescuetui.core.text import from_disk, printable

MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C"}
MAX_LISTING_BYTES = 1 << 20
PE_HEAD_BYTES = 4096
MAX_STUB_BYTES = 65536
FALLBACK_LOADERS = {"x86_64": "/EFI/BOOT/BOOTX64.EFI", "aarch64": "/EFI/BOOT/BOOTAA64.EFI"}
PE_MACHINES = {0x8664: "x86_64", 0xAA64: "aarch64", 0x14C: "i386"}
LOADER_NAMES = ("grubx64.efi", "shimx64.efi", "grubaa64.efi", "shimaa64.efi", "mmx64.efi")
# \EFI\<directory> of each distro, where it is not its os-release ID.
EFI_DIRECTORIES = {"rhel": "redhat", "ol": "redhat", "opensuse-leap": "opensuse",
                   "opensuse-tumbleweed": "opensuse", "sled": "sles", "sles_sap": "sles",
                   "linuxmint": "ubuntu", "pop": "ubuntu"}
SAFE_DIRECTORY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
STUB_UUID = re.compile(r"search\.fs_uuid\s+(\S+)|search\s+[^\n]*--fs-uuid[^\n]*?\s([0-9A-Fa-f-]{8,})")


@dataclass
class EspContents:
    device: str
    readable: bool
    error: str = ""
    files: list[str] = field(default_factory=list)  # /EFI/BOOT/BOOTX64.EFI, upper case kept
    loaders: dict[str, str] = field(default_factory=dict)  # path -> x86_64 / not-pe / ...
    stubs: dict[str, str] = field(default_factory=dict)  # grub.cfg path -> the UUID it seeks

    def has(self, path: str) -> bool:
        return any(f.lower() == path.lower() for f in self.files)

    def actual(self, path: str) -> str | None:
        return next((f for f in self.files if f.lower() == path.lower()), None)

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "readable": self.readable, "error": printable(self.error),
                "files": [printable(f) for f in self.files[:200]],
                "loaders": {printable(k): v for k, v in self.loaders.items()},
                "stub_configs": {printable(k): printable(v) for k, v in self.stubs.items()}}


def efi_directory(os_release: dict[str, str]) -> str:
    r"""The name of the distro's directory under \EFI\ ("" when its ID is not a safe name: it
    comes from the disk and becomes part of a path on the ESP)."""
    ident = os_release.get("ID", "").lower()
    name = EFI_DIRECTORIES.get(ident, ident)
    return name if SAFE_DIRECTORY.match(name) else ""


def _mtools(argv: list[str], limit: int) -> tuple[int, bytes, str]:
    env = {**{k: v for k, v in os.environ.items() if k in ("PATH",)}, **MTOOLS_ENV}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # noqa: S603
                                stderr=subprocess.PIPE, env=env)
    except FileNotFoundError:
        return 127, b"", "mtools is not installed on the rescue system (apt-get install mtools)"
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read(limit)
    proc.stdout.close()
    err = proc.stderr.read(4096)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    return code, out, from_disk(err).strip()


def read_file(device: str, path: str, limit: int) -> bytes | None:
    """The first `limit` bytes of a file on the FAT filesystem of `device`, or None."""
    code, out, _ = _mtools(["mcopy", "-n", "-i", device, f"::{path}", "-"], limit)
    return out if code == 0 or len(out) == limit else None


def pe_machine(head: bytes) -> str:
    """What a file is as an EFI executable: its machine (x86_64, aarch64), or why it is none."""
    if len(head) < 0x40 or head[:2] != b"MZ":
        return "not-pe" if head else "empty"
    offset = struct.unpack_from("<I", head, 0x3C)[0]
    if offset + 6 > len(head) or head[offset:offset + 4] != b"PE\x00\x00":
        return "not-pe"
    machine = struct.unpack_from("<H", head, offset + 4)[0]
    return PE_MACHINES.get(machine, f"pe-machine-0x{machine:x}")


def read_esp(device: str) -> EspContents:
    """List the ESP, check each loader's PE header, read the stub configs' search UUIDs."""
    code, out, err = _mtools(["mdir", "-b", "-/", "-i", device, "::"], MAX_LISTING_BYTES)
    if code != 0:
        return EspContents(device, False, err.splitlines()[0] if err else f"mdir exit {code}")
    esp = EspContents(device, True)
    for raw in from_disk(out).splitlines():
        if raw.startswith("::") and not raw.endswith("/"):
            esp.files.append(raw[2:])
    for path in esp.files:
        name = path.rsplit("/", 1)[-1].lower()
        if name.endswith(".efi") and (name in LOADER_NAMES or path.upper().startswith("/EFI/BOOT/")):
            head = read_file(device, path, PE_HEAD_BYTES)
            esp.loaders[path] = pe_machine(head) if head is not None else "unreadable"
        elif name == "grub.cfg":
            text = from_disk(read_file(device, path, MAX_STUB_BYTES) or b"")
            match = STUB_UUID.search(text)
            esp.stubs[path] = (match.group(1) or match.group(2)) if match else ""
    return esp
