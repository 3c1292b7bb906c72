"""Which initramfs builder the target really has (initramfs-tools, dracut, mkinitcpio), read
from what is installed and can run there, and the commands it rebuilds and lists images with.

Not from the distro family alone (Debian and Ubuntu may use dracut, Arch dracut or
mkinitcpio), nor from leftover directories: a removed initramfs-tools leaves
/etc/initramfs-tools behind, and its program is gone."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path

from rescuetui.core.confined import ConfinedRoot

Argv = list[str]
MAX_STATUS_BYTES = 64 << 20


@dataclass(frozen=True)
class InitramfsBuilder:
    name: str
    # The program that must be there, executable, for the builder to count as able to run.
    program: str
    # The Debian package that ships it (dpkg's status must say it is installed, where there is
    # a dpkg database: a package removed but not purged leaves its configuration behind).
    debian_package: str
    # Lists an image's files: its exit status and output say whether it is whole.
    lister: str
    # Where the builder reads its settings: the main file and the drop-in directory.
    config: tuple[str, str]
    # The rebuild of exactly one kernel's image, as an argv template: {version}, {path},
    # {create} (update-initramfs: -c makes a new image, -u updates one).
    command: tuple[str, ...]

    def rebuild(self, kernel: str, path: str, exists: bool) -> list[Argv]:
        """depmod first (a module tree reinstalled without its index breaks the image), then
        this builder for exactly this kernel, writing `path`."""
        create = "-u" if exists else "-c"
        build = [a.format(version=kernel, path=path, create=create) for a in self.command]
        return [["depmod", "-a", kernel], build]


INITRAMFS_TOOLS = InitramfsBuilder(
    name="initramfs-tools", program="/usr/sbin/mkinitramfs", debian_package="initramfs-tools",
    lister="/usr/bin/lsinitramfs",
    config=("/etc/initramfs-tools/initramfs.conf", "/etc/initramfs-tools/conf.d"),
    # update-initramfs writes NAME.new and renames it: an interrupted run leaves no half image.
    command=("update-initramfs", "{create}", "-k", "{version}"),
)
DRACUT = InitramfsBuilder(
    name="dracut", program="/usr/bin/dracut", debian_package="dracut",
    lister="/usr/bin/lsinitrd", config=("/etc/dracut.conf", "/etc/dracut.conf.d"),
    # Never host-only from a rescue chroot: that image would carry the rescue host's drivers
    # and none of the machine's it boots on. dracut too writes a temporary file and renames it.
    command=("dracut", "--force", "--no-hostonly", "{path}", "{version}"),
)
MKINITCPIO = InitramfsBuilder(
    name="mkinitcpio", program="/usr/bin/mkinitcpio", debian_package="",
    lister="/usr/bin/lsinitcpio",
    config=("/etc/mkinitcpio.conf", "/etc/mkinitcpio.conf.d"),
    command=("mkinitcpio", "-k", "{version}", "-g", "{path}"),
)
BUILDERS = (INITRAMFS_TOOLS, DRACUT, MKINITCPIO)
BY_NAME = {b.name: b for b in BUILDERS}

_STANZA_PACKAGE = re.compile(r"^Package: (\S+)$", re.M)
_STANZA_STATUS = re.compile(r"^Status: (.*)$", re.M)


def installed_builders(root: Path) -> list[InitramfsBuilder]:
    """The builders the target has installed and could run, in BUILDERS order."""
    files = ConfinedRoot(root)
    debian_installed = _dpkg_installed(files)
    found = []
    for builder in BUILDERS:
        if not _executable(files, builder.program):
            continue
        if debian_installed is not None and builder.debian_package \
                and builder.debian_package not in debian_installed:
            continue
        found.append(builder)
    return found


# Each family's usual builder, for a target that has several installed.
USUAL_BUILDER = {"debian": "initramfs-tools", "arch": "mkinitcpio"}


def target_builder(root: Path, family: str | None) -> InitramfsBuilder | None:
    """The builder that makes this target's images: the only one it has, or, with several, the
    family's usual one when it is among them, else the first."""
    found = installed_builders(root)
    if not found:
        return None
    usual = USUAL_BUILDER.get(family or "", "dracut")
    return next((b for b in found if b.name == usual), found[0])


def _executable(files: ConfinedRoot, path: str) -> bool:
    st = files.stat(path)
    return st is not None and stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def _dpkg_installed(files: ConfinedRoot) -> set[str] | None:
    """Packages dpkg's status says are installed; None where the target has no dpkg database."""
    found = files.read("/var/lib/dpkg/status", MAX_STATUS_BYTES)
    if found is None:
        return None
    text = found.decode("utf-8", "replace")
    installed = set()
    for stanza in text.split("\n\n"):
        package = _STANZA_PACKAGE.search(stanza)
        status_line = _STANZA_STATUS.search(stanza)
        if package and status_line and status_line.group(1).split()[-1:] == ["installed"]:
            installed.add(package.group(1))
    return installed
