"""Which libraries a target's program needs and whether each resolves, read from ELF headers on
the host (pyelftools): nothing from the disk runs. `ldd` would run the loader on the program,
and a prepared binary can run its own code that way.

The search follows the loader's (ld.so(8)): the program's PT_INTERP names the loader; each
DT_NEEDED name is looked for in the object's DT_RPATH (when it has no DT_RUNPATH), its
DT_RUNPATH ($ORIGIN is the object's own directory), the directories of the target's
/etc/ld.so.conf (its include files followed), then the default directories for the ELF's
machine. A file of another class or machine is skipped, as ld.so skips it; a file that is not
an ELF object, or is cut short, stops the loader, and is a problem here too. Every file is
opened inside the target's root (ConfinedRoot), and the work is bounded.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from rescuetui.core.confined import ConfinedRoot

MAX_OBJECTS = 512  # the libraries of one program, all levels
MAX_OBJECT_BYTES = 1 << 30
MAX_CONF_FILES = 256
MAX_CONF_BYTES = 1 << 20
MAX_SCRIPT_HOPS = 4

MISSING = "missing"
NOT_ELF = "not-elf"
WRONG_CLASS = "wrong-class"
TRUNCATED = "truncated"
NOT_EXECUTABLE = "not-executable"

# e_machine -> the multiarch tuple Debian puts its libraries under.
MULTIARCH = {"EM_X86_64": "x86_64-linux-gnu", "EM_AARCH64": "aarch64-linux-gnu",
             "EM_386": "i386-linux-gnu", "EM_ARM": "arm-linux-gnueabihf",
             "EM_PPC64": "powerpc64le-linux-gnu", "EM_S390": "s390x-linux-gnu",
             "EM_RISCV": "riscv64-linux-gnu"}


@dataclass(frozen=True)
class ElfInfo:
    """What the loader reads of one object."""

    path: str  # the target path it was found at, links followed
    elfclass: int  # 32 or 64
    machine: str  # e_machine: EM_X86_64, ...
    little_endian: bool
    interp: str | None
    needed: tuple[str, ...]
    runpath: tuple[str, ...]
    rpath: tuple[str, ...]


@dataclass(frozen=True)
class LibraryProblem:
    """One thing that keeps a program from starting: `name` is the loader's path or the
    DT_NEEDED name, `kind` one of MISSING, NOT_ELF, WRONG_CLASS, TRUNCATED, NOT_EXECUTABLE."""

    name: str
    kind: str
    needed_by: str
    detail: str

    def line(self) -> str:
        return f"{self.needed_by}: {self.name}: {self.detail}"


@dataclass
class Resolution:
    program: str
    loader: str | None = None  # PT_INTERP, as the program names it
    found: dict[str, str] = field(default_factory=dict)  # name -> target path
    problems: list[LibraryProblem] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        return not self.problems

    @property
    def loader_broken(self) -> bool:
        """The program's loader itself is what fails: nothing dynamic can start."""
        return any(p.name == self.loader for p in self.problems)


class BadObject(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def read_elf(files: ConfinedRoot, path: str) -> ElfInfo:
    """The loader's view of the object at `path` (BadObject: missing, not ELF, cut short)."""
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile
    from elftools.elf.segments import InterpSegment

    try:
        fd = files.open_regular(path)
    except OSError as exc:
        raise BadObject(MISSING, "not found" if exc.errno == 2 else
                        f"cannot be opened as a regular file ({exc.strerror})") from exc
    real = files.resolve(path) or path
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_OBJECT_BYTES:
            raise BadObject(NOT_ELF, f"{real} is {size} bytes, more than a library can be")
        magic = f.read(4)
        if magic != b"\x7fELF":
            if len(magic) < 4 and b"\x7fELF".startswith(magic):
                raise BadObject(TRUNCATED, f"{real} is cut short ({size} bytes)")
            raise BadObject(NOT_ELF, f"{real} is not an ELF object (it starts with {magic!r})")
        f.seek(0)
        try:
            elf = ELFFile(f)
            interp = None
            needed: list[str] = []
            runpath: list[str] = []
            rpath: list[str] = []
            for segment in elf.iter_segments():
                if segment["p_offset"] + segment["p_filesz"] > size:
                    raise BadObject(TRUNCATED, f"{real} is cut short: its {segment['p_type']} "
                                               f"segment ends past its {size} bytes")
                if isinstance(segment, InterpSegment):
                    interp = segment.get_interp_name()
                elif isinstance(segment, DynamicSegment):
                    for tag in segment.iter_tags():
                        kind = tag.entry.d_tag
                        # pyelftools sets these attributes by the tag's kind.
                        if kind == "DT_NEEDED":
                            needed.append(str(getattr(tag, "needed", "")))
                        elif kind == "DT_RUNPATH":
                            runpath += str(getattr(tag, "runpath", "")).split(":")
                        elif kind == "DT_RPATH":
                            rpath += str(getattr(tag, "rpath", "")).split(":")
            return ElfInfo(real, elf.elfclass, str(elf["e_machine"]), elf.little_endian,
                           interp, tuple(needed), tuple(runpath), tuple(rpath))
        except BadObject:
            raise
        except Exception as exc:  # pyelftools raises many kinds on bad input (ELFError, ...)
            raise BadObject(TRUNCATED if f.tell() >= size else NOT_ELF,
                            f"{real} is not a whole ELF object ({exc.__class__.__name__}: "
                            f"{str(exc)[:120]})") from exc


def default_dirs(elf: ElfInfo) -> list[str]:
    """The directories the loader always searches, for this ELF's class and machine."""
    arch = MULTIARCH.get(elf.machine)
    dirs = [f"/lib/{arch}", f"/usr/lib/{arch}"] if arch else []
    if elf.elfclass == 64:
        dirs += ["/lib64", "/usr/lib64"]
    return dirs + ["/lib", "/usr/lib"]


def ld_so_conf_dirs(files: ConfinedRoot) -> list[str]:
    """The directories the target's /etc/ld.so.conf names, include files followed."""
    dirs: list[str] = []
    seen: set[str] = set()

    def read(path: str, depth: int) -> None:
        if path in seen or len(seen) >= MAX_CONF_FILES or depth > 8:
            return
        seen.add(path)
        text = files.read_text(path, MAX_CONF_BYTES) or ""
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith("hwcap "):
                continue
            if line.startswith("include") and line[7:8] in (" ", "\t"):
                for pattern in line[8:].split():
                    if not pattern.startswith("/"):
                        pattern = posixpath.join(posixpath.dirname(path), pattern)
                    directory, glob = posixpath.split(pattern)
                    for name in sorted(files.glob(directory, glob)):
                        read(name, depth + 1)
                continue
            for word in line.replace(",", " ").split():
                word = word.split("=", 1)[0]  # an old "dir=libc5" type suffix
                if word.startswith("/") and word not in dirs:
                    dirs.append(word)

    read("/etc/ld.so.conf", 0)
    return dirs


def _expand(entry: str, origin: str, elf: ElfInfo) -> list[str]:
    if not entry:
        return []
    lib = ["lib64", f"lib/{MULTIARCH.get(elf.machine, '')}"] if elf.elfclass == 64 else ["lib"]
    out = [entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)]
    if "$LIB" in entry or "${LIB}" in entry:
        out = [e.replace("${LIB}", v).replace("$LIB", v) for e in out for v in lib]
    return [e for e in out if e.startswith("/") and "$" not in e]


def _compatible(a: ElfInfo, b: ElfInfo) -> bool:
    return (a.elfclass, a.machine, a.little_endian) == (b.elfclass, b.machine, b.little_endian)


def _search(files: ConfinedRoot, name: str, by: ElfInfo, conf: list[str]) -> Iterator[str]:
    if "/" in name:
        yield name
        return
    origin = posixpath.dirname(by.path)
    paths = [] if by.runpath else [d for e in by.rpath for d in _expand(e, origin, by)]
    paths += [d for e in by.runpath for d in _expand(e, origin, by)]
    for directory in dict.fromkeys(paths + conf + default_dirs(by)):
        yield posixpath.join(directory, name)


def _executable(files: ConfinedRoot, path: str) -> bool:
    st = files.stat(path)
    return st is not None and stat.S_ISREG(st.st_mode) and st.st_mode & 0o111 == 0o111


def _script_interpreter(files: ConfinedRoot, path: str) -> str | None:
    head = files.read(path, 256) or b""
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    return os.fsdecode(words[0]) if words else ""


def resolve_program(files: ConfinedRoot, program: str) -> Resolution:
    """Whether `program` can start: its loader and every library it needs, at every level."""
    result = Resolution(program)
    conf: list[str] | None = None
    for _ in range(MAX_SCRIPT_HOPS):  # a script starts through its interpreter
        interpreter = _script_interpreter(files, program)
        if interpreter is None:
            break
        if not interpreter.startswith("/"):
            result.problems.append(LibraryProblem(interpreter or "(none)", MISSING, program,
                                                  "the #! line names no interpreter path"))
            return result
        program = interpreter
    if not _executable(files, program) and files.exists(program):
        result.problems.append(LibraryProblem(program, NOT_EXECUTABLE, result.program,
                                              "is not executable by all"))
    try:
        top = read_elf(files, program)
    except BadObject as exc:
        result.problems.append(LibraryProblem(program, exc.kind, result.program, exc.detail))
        return result
    pending: list[ElfInfo] = [top]
    seen = {top.path}
    if top.interp:
        result.loader = top.interp
        try:
            loader = read_elf(files, top.interp)
            if not _compatible(loader, top):
                raise BadObject(WRONG_CLASS, f"{loader.path} is {loader.elfclass}-bit "
                                             f"{loader.machine}, the program {top.elfclass}-bit "
                                             f"{top.machine}")
            if not _executable(files, top.interp):
                raise BadObject(NOT_EXECUTABLE, f"{loader.path} is not executable by all")
            result.found[top.interp] = loader.path
        except BadObject as exc:
            result.problems.append(LibraryProblem(top.interp, exc.kind, top.path, exc.detail))
    while pending:
        current = pending.pop(0)
        for name in current.needed:
            if name in result.found or any(p.name == name for p in result.problems):
                continue
            if conf is None:
                conf = ld_so_conf_dirs(files)
            found, problem, skipped = None, None, []
            for candidate in _search(files, name, current, conf):
                try:
                    info = read_elf(files, candidate)
                except BadObject as exc:
                    if exc.kind == MISSING:
                        continue
                    problem = LibraryProblem(name, exc.kind, current.path, exc.detail)
                    break
                if not _compatible(info, current):
                    skipped.append(f"{info.path} ({info.elfclass}-bit {info.machine})")
                    continue
                found = info
                break
            if found is not None:
                result.found[name] = found.path
                if found.path not in seen and len(seen) < MAX_OBJECTS:
                    seen.add(found.path)
                    pending.append(found)
            elif problem is not None:
                result.problems.append(problem)
            elif skipped:
                result.problems.append(LibraryProblem(
                    name, WRONG_CLASS, current.path, "only of the wrong class or machine: "
                    + ", ".join(skipped[:3])))
            else:
                result.problems.append(LibraryProblem(name, MISSING, current.path, "not found"))
    return result


def shell_resolves(files: ConfinedRoot) -> bool:
    """Whether the target's /bin/sh, its loader and its libraries are all there whole: the
    host-side answer to "can anything run in the chroot at all" (package scripts, the
    builders and the package managers all start through it or the same loader and libc)."""
    return resolve_program(files, "/bin/sh").whole
