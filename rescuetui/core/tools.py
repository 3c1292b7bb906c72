"""Plain blocking calls of the rescue host's own tools (mount, losetup, ...), argv only, via `sh`."""

from __future__ import annotations

import os
import shlex

import sh

from rescuetui.core.errors import RescueError

# Debian package that provides each tool, for the message when one is missing.
PROVIDERS = {
    "mount": "mount", "umount": "mount", "losetup": "mount", "partx": "util-linux",
    "cryptsetup": "cryptsetup-bin", "pvs": "lvm2", "vgchange": "lvm2", "vgimportclone": "lvm2",
    "mdadm": "mdadm", "e2fsck": "e2fsprogs", "xfs_repair": "xfsprogs", "chroot": "coreutils",
    "debootstrap": "debootstrap", "sfdisk": "fdisk", "mkfs.ext4": "e2fsprogs",
    "mkfs.xfs": "xfsprogs", "mkfs.vfat": "dosfstools", "fuser": "psmisc",
}


class ToolError(RescueError):
    """A host tool exited with an error; `stderr` holds what it said."""

    def __init__(self, argv: list[str], exit_code: int, stderr: str) -> None:
        self.argv = argv
        self.exit_code = exit_code
        self.stderr = stderr.strip()
        said = f": {self.stderr}" if self.stderr else ""
        super().__init__(f"`{shlex.join(argv)}` failed (exit status {exit_code}){said}")


def tool(name: str, *args: str, stdin: bytes | None = None) -> str:
    """Run a host tool to completion and return its standard output."""
    try:
        command = sh.Command(name)
    except sh.CommandNotFound as exc:
        package = PROVIDERS.get(name, "the package that provides it")
        raise RescueError(
            f"`{name}` is not installed on the rescue system; install {package} and try again."
        ) from exc
    try:
        out = command(
            *args,
            _in=stdin if stdin is not None else b"",
            _tty_out=False,
            _decode_errors="surrogateescape",
            _env=os.environ | {"LVM_SUPPRESS_FD_WARNINGS": "1", "LC_ALL": "C"},
        )
    except sh.ErrorReturnCode as exc:
        raise ToolError(
            [name, *args], exc.exit_code, exc.stderr.decode("utf-8", "replace")
        ) from exc
    return str(out)
