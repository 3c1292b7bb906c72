"""What every distro family must say about itself: where things are, which commands repair them."""

from __future__ import annotations

from dataclasses import dataclass

Argv = list[str]


@dataclass(frozen=True)
class DistroFamily:
    name: str
    ids: frozenset[str]
    # Where this family keeps the initramfs of kernel VERSION, relative to /boot.
    initramfs_pattern: str
    # Boot loader configs, most specific first; `{id}` is the os-release ID (EFI directory).
    bootloader_configs: tuple[str, ...]
    # The commands, as argv templates: {path} and {packages} are filled in. (The initramfs
    # builder is not the family's: it is read from the target, core/initramfs_builder.py.)
    reinstall_command: tuple[str, ...]
    owner_command: tuple[str, ...]
    # {version}; {flavour} and {base}: the version's last -part and the rest (SUSE's
    # 6.4.0-150600.23.7-default); {name}: what the image is called after vmlinuz-.
    kernel_package_pattern: str
    grub_command: tuple[str, ...]
    # Verifies installed packages against their digests: output lines name altered files.
    verify_command: tuple[str, ...] = ()
    # GRUB's installer, and the packages that ship its platform modules (i386-pc, x86_64-efi)
    # and, for Secure Boot, the signed shim and GRUB.
    grub_install: str = "grub-install"
    grub_packages: tuple[tuple[str, str], ...] = ()
    signed_boot_packages: tuple[str, ...] = ()
    # Where the owners of files are looked up (rescuetui.checks.packages): dpkg, rpm, pacman.
    package_db: str = "dpkg"
    # Older releases whose tools differ (RHEL 7: yum and `kernel`), chosen by os-release.
    releases: tuple[Release, ...] = ()

    def for_release(self, os_release: dict[str, str]) -> DistroFamily:
        """This family as the release `os_release` describes has it: an older release's
        variant when ID (or an ID_LIKE) and VERSION_ID's major number name one."""
        ids = [os_release.get("ID", "").lower()] + os_release.get("ID_LIKE", "").lower().split()
        major = os_release.get("VERSION_ID", "").strip().split(".")[0]
        for release in self.releases:
            if major == release.major and any(i in release.ids for i in ids):
                return release.family
        return self

    def grub_package(self, platform: str) -> str | None:
        return dict(self.grub_packages).get(platform)

    def initramfs_name(self, kernel: str) -> str:
        return self.initramfs_pattern.format(version=kernel)

    def reinstall(self, packages: list[str]) -> list[Argv]:
        argv: Argv = []
        for a in self.reinstall_command:
            argv += packages if a == "{packages}" else [a]
        return [argv]

    def owner_query(self, path: str) -> Argv:
        return [a.format(path=path) for a in self.owner_command]

    def kernel_package(self, kernel: str, name: str | None = None) -> str:
        """`name` is what the image is called after vmlinuz- (Arch: the package, `linux`)."""
        base, _, flavour = kernel.rpartition("-")
        return self.kernel_package_pattern.format(version=kernel, name=name or kernel,
                                                  base=base or kernel, flavour=flavour)

    def verify(self, packages: list[str]) -> Argv:
        return [*self.verify_command, *packages]

    def regenerate_grub(self) -> list[Argv]:
        return [list(self.grub_command)]


@dataclass(frozen=True)
class Release:
    """A release of a family that needs other tools than its current ones."""

    ids: frozenset[str]  # os-release IDs it applies to
    major: str  # VERSION_ID's major number: "7" (RHEL 7), "2" (Amazon Linux 2)
    family: DistroFamily  # the family as that release has it
