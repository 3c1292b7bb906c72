"""Packages' files against what their database records, compared on the host: nothing from the
disk runs (no dpkg --verify, no rpm -V in the chroot).

Debian: dpkg's /var/lib/dpkg/info/<package>[:<arch>].md5sums, each listed file hashed through
ConfinedRoot: missing, another digest, or something other than a regular file in its place
is what dpkg --verify reports. RPM: the file records (mode, owner, group, digest, flags) read
from a copy of the target's database by the host's rpm (checks/rpmdb.py), then compared the
same way; where the host's rpm cannot read the database, nothing is claimed to be whole.
Arch: the mtree (paths, sha256 digests) each package leaves in pacman's local database.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from rescuetui.checks.rpmdb import PACKAGE_NAME as PACKAGE
from rescuetui.checks.rpmdb import rpm_database
from rescuetui.core.confined import ConfinedRoot

MAX_MD5SUMS_BYTES = 16 << 20
MAX_HASHED_BYTES = 4 << 30  # all files of the packages looked at together
READ_CHUNK = 1 << 20
MD5SUMS_LINE = re.compile(r"^(?P<digest>[0-9a-f]{32}) [ *](?P<path>.+)$")
# rpm's FILEFLAGS bits (rpmfiles.h) and FILESTATES values.
RPMFILE_CONFIG = 1 << 0
RPMFILE_MISSINGOK = 1 << 3
RPMFILE_GHOST = 1 << 6
RPMFILE_STATE_NORMAL = 0
# rpm's digest algorithm numbers (PGPHASHALGO_*); hex length tells them apart too.
RPM_DIGESTS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
BY_LENGTH = {32: "md5", 40: "sha1", 56: "sha224", 64: "sha256", 96: "sha384", 128: "sha512"}


@dataclass
class Verification:
    """What differs: `altered` paths (dpkg --verify's "missing" and digest lines), with one
    evidence line each; `unchecked` says what could not be looked at, and why."""

    altered: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    checked_files: int = 0

    def add(self, path: str, why: str) -> None:
        if path not in self.altered:
            self.altered.append(path)
            self.evidence.append(f"{path}: {why}")


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit


def file_digest(files: ConfinedRoot, path: str, algorithm: str, budget: _Budget) -> str | None:
    """The hex digest of the regular file `path`, streamed from its descriptor (None once the
    budget of bytes is spent; OSError when it cannot be opened as a regular file)."""
    fd = files.open_regular(path)
    try:
        digest = hashlib.new(algorithm)
        while chunk := os.read(fd, READ_CHUNK):
            budget.left -= len(chunk)
            if budget.left < 0:
                return None
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


def _compare(files: ConfinedRoot, result: Verification, path: str, expected: str,
             algorithm: str, budget: _Budget) -> bool:
    """One file against its recorded digest; False once the budget is spent."""
    st = files.lstat(path)
    if st is None:
        # A missing directory on the way, a link that leads nowhere, nothing at all.
        result.add(path, "missing")
        return True
    if stat.S_ISLNK(st.st_mode):
        # Packages record a regular file here; a link in its place is not what was shipped
        # (and may lead anywhere): its target is never hashed.
        result.add(path, f"a symbolic link (to {files.readlink(path)!r}) where the package "
                         "installed a regular file")
        return True
    if not stat.S_ISREG(st.st_mode):
        result.add(path, "not a regular file (a directory, FIFO, socket or device node) "
                         "where the package installed one")
        return True
    try:
        actual = file_digest(files, path, algorithm, budget)
    except OSError as exc:
        result.add(path, f"cannot be read ({exc.strerror})")
        return True
    if actual is None:
        result.unchecked.append(f"stopped after {MAX_HASHED_BYTES >> 30} GiB of files: "
                                f"{path} and the files after it were not hashed")
        return False
    result.checked_files += 1
    if actual != expected:
        result.add(path, f"{algorithm} digest differs from the package's")
    return True


def md5sums_files(files: ConfinedRoot, package: str) -> list[str]:
    """dpkg's md5sums lists of `package` (name, or name:arch for Multi-Arch: same)."""
    name = package.split(":")[0]
    return [p for p in files.glob("/var/lib/dpkg/info", f"{name}*.md5sums")
            if os.path.basename(p)[:-len(".md5sums")].split(":")[0] == name]


def diversions(files: ConfinedRoot) -> dict[str, tuple[str, str]]:
    """dpkg's diversions: path -> (where it went, the package that diverted it; ":" for a
    local one), from /var/lib/dpkg/diversions (three lines each)."""
    lines = (files.read_text("/var/lib/dpkg/diversions", MAX_MD5SUMS_BYTES) or "").splitlines()
    return {lines[n]: (lines[n + 1], lines[n + 2]) for n in range(0, len(lines) - 2, 3)}


def verify_debian(files: ConfinedRoot, packages: list[str]) -> Verification:
    """dpkg --verify's digest and missing-file answers for `packages`, from their md5sums."""
    result = Verification()
    budget = _Budget(MAX_HASHED_BYTES)
    diverted = diversions(files)
    for package in packages:
        lists = md5sums_files(files, package)
        if not lists:
            result.unchecked.append(f"{package} has no md5sums list in /var/lib/dpkg/info")
            continue
        for listing in lists:
            text = files.read_text(listing, MAX_MD5SUMS_BYTES)
            if text is None:
                result.unchecked.append(f"{listing} cannot be read as a regular file")
                continue
            for line in text.splitlines():
                m = MD5SUMS_LINE.match(line)
                if m is None:
                    continue
                path = "/" + m.group("path").lstrip("/")
                # A file another package diverted lies where the diversion sent it.
                to, by = diverted.get(path, (path, package))
                path = path if by == package.split(":")[0] else to
                if not _compare(files, result, path, m.group("digest"), "md5", budget):
                    return result
    return result


@dataclass(frozen=True)
class RpmFile:
    """One file record of an installed RPM package."""

    package: str
    path: str
    mode: int
    user: str
    group: str
    digest: str
    flags: int
    state: int
    algorithm: str


# One line per file: the package, then the file's tags (rpm --queryformat).
RPM_FILES_FORMAT = ("[%{=NAME}\\t%{FILEMODES}\\t%{FILEUSERNAME}\\t%{FILEGROUPNAME}\\t"
                    "%{FILEDIGESTS}\\t%{FILEFLAGS}\\t%{FILESTATES}\\t%{=FILEDIGESTALGO}\\t"
                    "%{FILENAMES}\\n]")
_NUMBER = re.compile(r"^-?[0-9]{1,12}$")
_HEX = re.compile(r"^[0-9a-f]*$")


def parse_rpm_files(lines: list[str]) -> list[RpmFile]:
    """File records from RPM_FILES_FORMAT lines (untrusted text: malformed lines dropped)."""
    found = []
    for line in lines:
        fields = line.split("\t", 8)
        if len(fields) != 9:
            continue
        name, mode, user, group, digest, flags, state, algo, path = fields
        if not all(_NUMBER.match(v) for v in (mode, flags, state)) or not _HEX.match(digest) \
                or not path.startswith("/"):
            continue
        algorithm = RPM_DIGESTS.get(int(algo) if _NUMBER.match(algo) else 1) \
            or BY_LENGTH.get(len(digest), "")
        found.append(RpmFile(name, path, int(mode) & 0o177777, user, group, digest,
                             int(flags), int(state), algorithm))
    return found


def _ids(files: ConfinedRoot, path: str) -> dict[str, int]:
    """name -> id from the target's /etc/passwd or /etc/group."""
    ids: dict[str, int] = {}
    for line in (files.read_text(path, 16 << 20) or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isascii() and fields[2].isdigit():
            ids.setdefault(fields[0], int(fields[2]))
    return ids


def rpm_attribute_differences(files: ConfinedRoot, records: list[RpmFile]) -> list[dict[str, str]]:
    """Files whose mode, user or group differ from their package's record (rpm -V's M, U
    and G), owners named through the target's own /etc/passwd and /etc/group."""
    users, groups = _ids(files, "/etc/passwd"), _ids(files, "/etc/group")
    found, seen = [], set()
    for record in records:
        if record.flags & RPMFILE_GHOST or record.state != RPMFILE_STATE_NORMAL \
                or record.path in seen:
            continue
        seen.add(record.path)
        st = files.lstat(record.path)
        if st is None or stat.S_IFMT(st.st_mode) != stat.S_IFMT(record.mode):
            continue  # missing or of another type: digest verification's business
        what = []
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o7777 != record.mode & 0o7777:
            what.append("mode")
        if record.user in users and st.st_uid != users[record.user]:
            what.append("user")
        if record.group in groups and st.st_gid != groups[record.group]:
            what.append("group")
        if what:
            found.append({"path": record.path, "package": record.package,
                          "why": " and ".join(what) + " differ"})
    return found


def verify_rpm_records(files: ConfinedRoot, records: list[RpmFile]) -> Verification:
    """rpm -V's missing-file and digest answers from the records (configuration files, ghost
    files and files not installed on purpose left out)."""
    result = Verification()
    budget = _Budget(MAX_HASHED_BYTES)
    for record in records:
        if record.flags & (RPMFILE_GHOST | RPMFILE_CONFIG) \
                or record.state != RPMFILE_STATE_NORMAL:
            continue
        if not stat.S_ISREG(record.mode) or not record.digest:
            if files.lstat(record.path) is None and not record.flags & RPMFILE_MISSINGOK:
                result.add(record.path, "missing")
            continue
        if not record.algorithm:
            result.unchecked.append(f"{record.path}: the database's digest algorithm is unknown")
            continue
        if files.lstat(record.path) is None and record.flags & RPMFILE_MISSINGOK:
            continue
        if not _compare(files, result, record.path, record.digest, record.algorithm, budget):
            break
    return result


RPM_BATCH = 40  # packages per query: rpm's output is cut at 16 MiB per query


def rpm_records(root: Path, packages: list[str] | None) -> list[RpmFile] | None:
    """The file records of `packages` (None: every installed package) from a copy of the
    target's database, read by the host's rpm; None when that cannot be done (no database,
    no rpm on the host, or one it cannot read)."""
    with rpm_database(root) as db:
        if db is None:
            return None
        if packages is None:
            packages = [n for n in db.query("-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}."
                                                         "%{ARCH}\\n") if PACKAGE.match(n)]
        records: list[RpmFile] = []
        for start in range(0, len(packages), RPM_BATCH):
            records += parse_rpm_files(db.query("-q", "--qf", RPM_FILES_FORMAT, "--",
                                                *packages[start:start + RPM_BATCH]))
        return records or None


PACMAN_LOCAL = "/var/lib/pacman/local"
MAX_MTREE_BYTES = 64 << 20  # unpacked
_OCTAL = re.compile(r"\\([0-7]{3})")


def _mtree_name(word: str) -> str:
    """An mtree path: octal escapes (\\040 for a space) decoded."""
    raw = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), word)
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")


def mtree_entries(text: str) -> list[dict[str, str]]:
    """The entries of an mtree file, /set defaults applied: each with its "path" (absolute)."""
    defaults: dict[str, str] = {}
    entries = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        keys = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if words[0] == "/set":
            defaults.update(keys)
        elif words[0] == "/unset":
            for w in words[1:]:
                defaults.pop(w, None)
        elif words[0].startswith("./") and not words[0].startswith("./."):
            entries.append(defaults | keys | {"path": _mtree_name(words[0][1:])})
    return entries


def _pacman_entry(files: ConfinedRoot, package: str) -> str | None:
    """The local database directory of the installed `package` (NAME-VERSION-REL)."""
    for entry in files.entries(PACMAN_LOCAL):
        if entry.is_dir and entry.name.startswith(package + "-"):
            desc = files.read_text(entry.path + "/desc", MAX_MD5SUMS_BYTES) or ""
            if desc.split("%NAME%\n", 1)[-1].split("\n", 1)[0] == package:
                return entry.path
    return None


def verify_pacman(files: ConfinedRoot, packages: list[str]) -> Verification:
    """pacman -Qkk's missing-file and digest answers for `packages`, from the mtree each
    package left in pacman's local database (backup files, its configuration, left out)."""
    result = Verification()
    budget = _Budget(MAX_HASHED_BYTES)
    for package in packages:
        entry = _pacman_entry(files, package)
        packed = files.read(entry + "/mtree", MAX_MD5SUMS_BYTES) if entry else None
        if entry is None or packed is None:
            result.unchecked.append(f"{package} has no mtree in {PACMAN_LOCAL}")
            continue
        try:
            unpack = zlib.decompressobj(16 + zlib.MAX_WBITS)
            text = unpack.decompress(packed, MAX_MTREE_BYTES).decode("utf-8", "replace")
        except zlib.error:
            result.unchecked.append(f"{entry}/mtree is not a gzip file")
            continue
        desc = files.read_text(entry + "/desc", MAX_MD5SUMS_BYTES) or ""
        backup = {"/" + line.split("\t")[0] for line in
                  desc.split("%BACKUP%\n", 1)[-1].split("\n\n", 1)[0].splitlines()} \
            if "%BACKUP%\n" in desc else set()
        for item in mtree_entries(text):
            path = item["path"]
            if item.get("type", "file") != "file" or path in backup:
                continue
            digest, algorithm = ((item["sha256digest"], "sha256") if "sha256digest" in item
                                 else (item.get("md5digest", ""), "md5"))
            if not _HEX.match(digest) or len(digest) != {"sha256": 64, "md5": 32}[algorithm]:
                if files.lstat(path) is None:
                    result.add(path, "missing")
                continue
            if not _compare(files, result, path, digest, algorithm, budget):
                return result
    return result
