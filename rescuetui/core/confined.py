"""The one way the host touches a target's files: every path resolved inside the target's root.

A disk is data, never authority (guestfs-security(1)). Every open, read, write, stat, chmod,
chown, rename, unlink and directory walk of a path inside a mounted target goes through
`ConfinedRoot`: the path is opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
relative to a directory descriptor of the target's root, so an absolute link (`/etc/resolv.conf
-> /run/...`), a `..` or a planted link (`/var/log -> /etc`) resolves inside the target, as the
target itself would see it, and never reaches the rescue host's files. Where the kernel lacks
openat2 (before 5.6), the same is done component by component with O_NOFOLLOW.

Only regular files are read (a FIFO would block, a device node would open a device), reads are
bounded, and files are created with O_CREAT|O_EXCL|O_NOFOLLOW in their directory's descriptor.
The root's descriptor is opened per call and closed again: a descriptor kept open would keep
the target's mounts busy at teardown, and mounts made later (the fstab tree) are crossed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rescuetui.core.errors import RescueError

SYS_OPENAT2 = 437  # the same number on every architecture (the generic syscall table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
MAX_SYMLINKS = 40
DEFAULT_LIMIT = 16 << 20  # a read of a target's file that names no limit of its own


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_openat2_works: bool | None = None


def _openat2(dirfd: int, path: str, flags: int, mode: int) -> int:
    how = _OpenHow(flags, mode if flags & os.O_CREAT else 0,
                   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    fd = _libc.syscall(SYS_OPENAT2, ctypes.c_int(dirfd), os.fsencode(path),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def has_openat2() -> bool:
    """Whether this kernel has openat2(2) (Linux 5.6 and later)."""
    global _openat2_works
    if _openat2_works is None:
        try:
            os.close(_openat2(os.open("/", os.O_PATH | os.O_DIRECTORY), "/", os.O_PATH, 0))
            _openat2_works = True
        except OSError as exc:
            _openat2_works = exc.errno not in (errno.ENOSYS, errno.EPERM)
    return _openat2_works


def _split(path: str) -> list[str]:
    if "\0" in path:
        raise OSError(errno.EINVAL, "a path with a NUL byte", path)
    return [p for p in path.split("/") if p and p != "."]


def _walk_open(rootfd: int, path: str, flags: int, mode: int) -> int:
    """openat2's RESOLVE_IN_ROOT done by hand: one component at a time with O_NOFOLLOW, links
    read and followed with the root as `/`, `..` never above the root."""
    parts = _split(path)
    stack: list[int] = [os.dup(rootfd)]
    hops = 0
    try:
        while parts:
            part = parts.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not parts
            here = stack[-1]
            try:
                st = os.stat(part, dir_fd=here, follow_symlinks=False)
            except FileNotFoundError:
                if last and flags & os.O_CREAT:
                    return os.open(part, flags | os.O_NOFOLLOW, mode, dir_fd=here)
                raise
            if stat.S_ISLNK(st.st_mode) and (not last or not flags & os.O_NOFOLLOW):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                link = os.readlink(part, dir_fd=here)
                if link.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts = _split(link) + parts
                continue
            if last:
                return os.open(part, flags | os.O_NOFOLLOW, mode, dir_fd=here)
            stack.append(os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=here))
        return os.open(".", flags, mode, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


@dataclass(frozen=True)
class Entry:
    """One name in a directory of the target, with what lstat says of it."""

    name: str
    path: str  # the target path
    st: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.st.st_mode)


class ConfinedRoot:
    """A mounted target's files, reachable only inside its root (see the module's docstring).

    Paths are the target's own (`/etc/fstab`); a relative path is taken from the root.
    Errors are OSError as from os.open; the `read`-style helpers return None instead where a
    missing or unreadable file is an ordinary answer.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ConfinedRoot({str(self.root)!r})"

    # -- descriptors -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _rootfd(self) -> Iterator[int]:
        fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield fd
        finally:
            os.close(fd)

    def open(self, path: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
        """A descriptor of `path` inside the target (the caller closes it). Links are followed
        inside the root, unless `flags` has O_NOFOLLOW (then the last component is not)."""
        # openat2 refuses O_PATH with any flag but O_CLOEXEC, O_DIRECTORY and O_NOFOLLOW.
        flags |= os.O_CLOEXEC if flags & os.O_PATH else os.O_CLOEXEC | os.O_NOCTTY
        with self._rootfd() as rootfd:
            if has_openat2():
                return _openat2(rootfd, "/" + "/".join(_split(path)), flags, mode)
            return _walk_open(rootfd, path, flags, mode)

    @contextlib.contextmanager
    def fd(self, path: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> Iterator[int]:
        fd = self.open(path, flags, mode)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def parent(self, path: str) -> Iterator[tuple[int, str]]:
        """The descriptor of `path`'s directory (resolved inside the root) and its last name:
        for the calls that act on a name itself (unlink, rename, readlink, mkdir, symlink)."""
        parts = _split(path)
        name = parts[-1] if parts else ""
        if name in ("", ".."):
            raise OSError(errno.EINVAL, "no file name at the end of the path", path)
        with self.fd("/" + "/".join(parts[:-1]), os.O_PATH | os.O_DIRECTORY) as dirfd:
            yield dirfd, name

    # -- looking -----------------------------------------------------------------------------

    def lstat(self, path: str) -> os.stat_result | None:
        """lstat of `path` (its directories resolved inside the root), None when missing."""
        try:
            with self.fd(path, os.O_PATH | os.O_NOFOLLOW) as fd:
                return os.fstat(fd)
        except OSError:
            return None

    def stat(self, path: str) -> os.stat_result | None:
        """stat of `path`, links followed inside the root; None when missing or a link that
        leads nowhere inside the target."""
        try:
            with self.fd(path, os.O_PATH) as fd:
                return os.fstat(fd)
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def is_file(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and stat.S_ISREG(st.st_mode)

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def is_symlink(self, path: str) -> bool:
        st = self.lstat(path)
        return st is not None and stat.S_ISLNK(st.st_mode)

    def readlink(self, path: str) -> str | None:
        """What the link `path` says (not followed); None when it is not a link."""
        try:
            with self.parent(path) as (dirfd, name):
                return os.readlink(name, dir_fd=dirfd)
        except OSError:
            return None

    def resolve(self, path: str) -> str | None:
        """The target path `path` leads to, links followed inside the root (None: missing)."""
        try:
            with self.fd(path, os.O_PATH) as fd:
                host = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        root = os.path.realpath(self.root)
        if host == root:
            return "/"
        return host[len(root):] if host.startswith(root + "/") else None

    def leads_to(self, path: str) -> str:
        """Where `path` leads: `resolve`, or, when something on the way is missing, as far as
        the links say (/sbin/init -> /lib/systemd/systemd names the program that is gone)."""
        return self.resolve(path) or follow_links(path, self.readlink)

    def read(self, path: str, limit: int = DEFAULT_LIMIT) -> bytes | None:
        """At most `limit` bytes of the regular file `path`; None when it is missing, not a
        regular file (a FIFO, a device node, a directory: never read, so never a hang) or a
        link that leads nowhere inside the target."""
        try:
            with self.fd(path, os.O_RDONLY | os.O_NONBLOCK) as fd:
                return read_fd(fd, limit)
        except OSError:
            return None

    def read_text(self, path: str, limit: int = DEFAULT_LIMIT) -> str | None:
        data = self.read(path, limit)
        return None if data is None else data.decode("utf-8", "replace")

    def open_regular(self, path: str) -> int:
        """A read descriptor of the regular file `path` (OSError for anything else); the caller
        bounds what it reads and closes it."""
        fd = self.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", path)
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def listdir(self, path: str) -> list[str]:
        """The names in the directory `path` (sorted); [] when it is missing or not one."""
        try:
            with self.fd(path, os.O_RDONLY | os.O_DIRECTORY) as fd:
                return sorted(os.listdir(fd))
        except OSError:
            return []

    def entries(self, path: str) -> list[Entry]:
        """The directory `path`'s names with their lstat, sorted by name."""
        base = "/" + "/".join(_split(path))
        try:
            with self.fd(path, os.O_RDONLY | os.O_DIRECTORY) as fd:
                found = []
                for name in sorted(os.listdir(fd)):
                    with contextlib.suppress(OSError):
                        found.append(Entry(name, base.rstrip("/") + "/" + name,
                                           os.stat(name, dir_fd=fd, follow_symlinks=False)))
                return found
        except OSError:
            return []

    def walk(self, path: str, *, limit: int = 1_000_000) -> Iterator[Entry]:
        """Every entry below `path`, depth first, links never followed, at most `limit`
        entries (a hostile tree can be endless)."""
        pending = [path]
        seen = 0
        while pending:
            for entry in self.entries(pending.pop()):
                seen += 1
                if seen > limit:
                    return
                yield entry
                if entry.is_dir:
                    pending.append(entry.path)

    def glob(self, directory: str, pattern: str) -> list[str]:
        """Target paths of the names in `directory` matching the fnmatch `pattern`."""
        import fnmatch

        base = "/" + "/".join(_split(directory))
        return [base.rstrip("/") + "/" + n for n in self.listdir(directory)
                if fnmatch.fnmatchcase(n, pattern)]

    # -- changing ----------------------------------------------------------------------------

    def write_atomic(self, path: str, data: bytes, *, mode: int | None = None,
                     uid: int | None = None, gid: int | None = None) -> None:
        """Replace `path` with `data`: a new file created O_EXCL|O_NOFOLLOW beside it in its
        directory's descriptor, written, synced and renamed over it. Mode and owner are the old
        file's unless given (0644 root:root for a new file)."""
        old = self.lstat(path)
        if old is not None and stat.S_ISLNK(old.st_mode):
            raise RescueError(f"{path} on the target is a symbolic link; change the file it "
                              "points to instead.")
        if mode is None:
            mode = stat.S_IMODE(old.st_mode) if old else 0o644
        uid = uid if uid is not None else (old.st_uid if old else 0)
        gid = gid if gid is not None else (old.st_gid if old else 0)
        with self.parent(path) as (dirfd, name):
            temp = f".{name[:200]}.rescuetui-{os.urandom(4).hex()}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
            try:
                try:
                    write_all(fd, data)
                    os.fchown(fd, uid, gid)
                    os.fchmod(fd, mode)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(temp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dirfd)
                raise

    def create(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Create the new file `path` (never over an existing name, never through a link)."""
        with self.parent(path) as (dirfd, name):
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, mode, dir_fd=dirfd)
            try:
                write_all(fd, data)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)

    def chmod(self, path: str, mode: int) -> None:
        """chmod of `path` itself (a link is refused: its mode means nothing)."""
        with self.fd(path, os.O_PATH | os.O_NOFOLLOW) as fd:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.ELOOP, "a symbolic link has no mode of its own", path)
            # fchmod does not take an O_PATH descriptor; its /proc link is that very inode.
            os.chmod(f"/proc/self/fd/{fd}", mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """lchown of `path` itself."""
        with self.fd(path, os.O_PATH | os.O_NOFOLLOW) as fd:
            # Through the descriptor's /proc link: the inode opened, a link itself included.
            os.chown(f"/proc/self/fd/{fd}", uid, gid)

    def unlink(self, path: str) -> None:
        with self.parent(path) as (dirfd, name):
            os.unlink(name, dir_fd=dirfd)

    def rmdir(self, path: str) -> None:
        with self.parent(path) as (dirfd, name):
            os.rmdir(name, dir_fd=dirfd)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        with self.parent(path) as (dirfd, name):
            os.mkdir(name, mode, dir_fd=dirfd)

    def makedirs(self, path: str, mode: int = 0o755) -> list[str]:
        """mkdir -p inside the root; returns the directories it made, outermost first."""
        made: list[str] = []
        current = ""
        for part in _split(path):
            if part == "..":
                raise OSError(errno.EINVAL, "'..' in a directory to create", path)
            current += "/" + part
            st = self.stat(current)
            if st is None:
                self.mkdir(current, mode)
                made.append(current)
            elif not stat.S_ISDIR(st.st_mode):
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), current)
        return made

    def symlink(self, link_target: str, path: str) -> None:
        with self.parent(path) as (dirfd, name):
            os.symlink(link_target, name, dir_fd=dirfd)

    def rename(self, source: str, dest: str) -> None:
        with self.parent(source) as (sfd, sname), self.parent(dest) as (dfd, dname):
            os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)

    def remove_tree(self, path: str) -> None:
        """rm -r of `path` inside the root, links removed and never followed."""
        st = self.lstat(path)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            for entry in self.entries(path):
                self.remove_tree(entry.path)
            self.rmdir(path)
        else:
            self.unlink(path)

    def copy_in(self, host_source: Path, path: str) -> None:
        """Copy a tree of the rescue host's (the journal) to `path` inside the target: every
        file created O_EXCL, every directory made here, nothing followed on either side."""
        st = os.lstat(host_source)
        if stat.S_ISDIR(st.st_mode):
            self.mkdir(path, 0o700)
            for child in sorted(os.listdir(host_source)):
                self.copy_in(host_source / child, path.rstrip("/") + "/" + child)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(host_source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                with self.fd(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o600) as out:
                    while chunk := os.read(fd, 1 << 20):
                        write_all(out, chunk)
            finally:
                os.close(fd)
        # anything else (a link, a FIFO) in the journal's own directory is not copied


def follow_links(path: str, readlink: Callable[[str], str | None], *,
                 follow_last: bool = True, strict: bool = False) -> str:
    """`path` with its links followed by what `readlink` says, `/` being the root and `..`
    never climbing above it; a missing component ends the following (the rest is kept as
    it is), and so do more than MAX_SYMLINKS links (a loop; `strict`: an error)."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            resolved = resolved[:-1]
            continue
        link = readlink("/" + "/".join([*resolved, part])) if parts or follow_last else None
        if link is not None and hops >= MAX_SYMLINKS and strict:
            raise RescueError(f"Too many symbolic links while resolving {path}.")
        if link is not None and hops < MAX_SYMLINKS:
            hops += 1
            resolved = [] if link.startswith("/") else resolved
            parts = [p for p in link.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def read_fd(fd: int, limit: int) -> bytes:
    """At most `limit` bytes of the regular file open at `fd` (OSError for anything else)."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise OSError(errno.EINVAL, "not a regular file")
    chunks, left = [], limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
