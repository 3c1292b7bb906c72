"""Change manifests: which files a command changed, by comparing stat snapshots before and after."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from rescuetui.core.confined import ConfinedRoot

# The whole target: package scripts write logs, caches and temporary files anywhere.
DEFAULT_SCOPE = ("/",)
# Not the target's own files: the chroot's API filesystems, and rescuetui's journal copy.
EXCLUDED = frozenset({"/proc", "/sys", "/dev", "/run", "/var/log/rescuetui"})

Signature = tuple[int, int, int, int, int, int]


@dataclass(frozen=True)
class ManifestDiff:
    added: list[str]
    removed: list[str]
    modified: list[str]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.modified)

    def to_json(self) -> dict[str, list[str]]:
        return {"added": self.added, "removed": self.removed, "modified": self.modified}


def snapshot(root: Path, scope: tuple[str, ...] = DEFAULT_SCOPE) -> dict[str, Signature]:
    """stat of every entry below the scope paths, keyed by target path, walked inside the
    target's root (core/confined.py). Symbolic links are not followed (a merged /usr is walked
    once, through /usr), mount points of other filesystems inside the tree are walked like the
    rest (a separate /boot is part of the target)."""
    files = ConfinedRoot(root)
    seen: dict[str, Signature] = {}
    for top in scope:
        if files.is_symlink(top) or not files.is_dir(top):
            continue
        stack = [top]
        while stack:
            for entry in files.entries(stack.pop()):
                if entry.path in EXCLUDED:
                    continue
                st = entry.st
                seen[entry.path] = (
                    st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ino
                )
                if entry.is_dir:
                    stack.append(entry.path)
    return seen


def compare(before: dict[str, Signature], after: dict[str, Signature]) -> ManifestDiff:
    """Directories count as modified only when their mode or owner changed, not their mtime."""
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    modified = []
    for path in sorted(before.keys() & after.keys()):
        a, b = before[path], after[path]
        if stat.S_ISDIR(a[0]) and stat.S_ISDIR(b[0]):
            if a[:3] != b[:3]:
                modified.append(path)
        elif a != b:
            modified.append(path)
    return ManifestDiff(added, removed, modified)
