"""What every distro family must say about itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DistroFamily:
    name: str
    ids: frozenset[str]
    # Where this family keeps the initramfs of kernel VERSION, relative to /boot.
    initramfs_pattern: str
    # Boot loader configs, most specific first; `{id}` is the os-release ID (EFI directory).
    bootloader_configs: tuple[str, ...]

    def initramfs_name(self, kernel: str) -> str:
        return self.initramfs_pattern.format(version=kernel)
