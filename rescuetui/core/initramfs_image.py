"""Lists an initramfs image on the host, in Python: nothing from the disk runs to look into it.

An image is what the kernel unpacks (init/initramfs.c): cpio archives in the "newc" format
(070701, or 070702 with checksums), one after another, each possibly compressed, with zero
padding between them; the early microcode archive comes first and uncompressed, the main
archive after it, compressed (gzip, xz, lzma, bzip2, zstd, lz4 in Linux's legacy framing). A
compressed segment must hold whole archives, each ending in TRAILER!!!, as the kernel demands
("junk at the end of compressed archive"). Where the kernel would stop unpacking (a short
read, a decompression error, no trailer, an unknown magic), the listing says the image is
truncated or corrupt: the same verdict the target's own lister gave by failing.

Work is bounded: the image's bytes read and the bytes unpacked, and each decompression step
is fed small input so that a compression bomb cannot make one step large.
"""

from __future__ import annotations

import bz2
import lzma
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rescuetui.core.confined import ConfinedRoot

MAX_IMAGE_BYTES = 1 << 30  # the image file itself
MAX_UNPACKED_BYTES = 512 << 20  # everything it unpacks to
MAX_ENTRIES = 1_000_000
MAX_NAME = 4096  # PATH_MAX: the kernel refuses longer names
HEADER = 110  # newc: 6 bytes of magic and 13 fields of 8 hex digits
TRAILER = "TRAILER!!!"
CHUNK = 1 << 16
STEP_OUTPUT = 4 << 20  # what one decompression step may return
LZ4_LEGACY_MAGIC = 0x184C2102
LZ4_LEGACY_BLOCK = 8 << 20  # lz4 -l: every block unpacks to at most 8 MiB

OK = "ok"
TRUNCATED = "truncated"  # ends early: a short read, a stream cut off, no trailer
CORRUPT = "corrupt"  # bytes that are not what the kernel unpacks
UNREADABLE = "unreadable"  # a compression this lister cannot read: not looked into
TOO_BIG = "too-big"  # over the bounds: not looked into whole


@dataclass
class ImageListing:
    """What an image holds: its members' names (no leading ./ or /), and whether it unpacks
    whole; `problem` says why not, naming the byte offset where it went wrong."""

    status: str = OK
    problem: str = ""
    names: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)  # "cpio", "zstd", ... in order

    @property
    def complete(self) -> bool:
        return self.status == OK


class ImageError(Exception):
    def __init__(self, status: str, problem: str) -> None:
        super().__init__(problem)
        self.status = status
        self.problem = problem


class _Raw:
    """The image's bytes from a descriptor, bounded, with what a decompressor left unused
    pushed back in front."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self.left = limit
        self.pending = b""
        self.offset = 0  # of the next byte handed out
        self.capped = False

    def read(self, n: int) -> bytes:
        if self.pending:
            out, self.pending = self.pending[:n], self.pending[n:]
        else:
            if self.left <= 0:
                self.capped = True
                return b""
            out = os.read(self.fd, min(n, self.left))
            self.left -= len(out)
        self.offset += len(out)
        return out

    def unread(self, data: bytes) -> None:
        self.pending = data + self.pending
        self.offset -= len(data)

    def peek(self, n: int) -> bytes:
        data = b""
        while len(data) < n and (chunk := self.read(n - len(data))):
            data += chunk
        self.unread(data)
        return data


class _Stream(Protocol):
    def read(self, n: int) -> bytes: ...

    def unread(self, data: bytes) -> None: ...


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise ImageError(TOO_BIG, f"it unpacks to more than {self.limit >> 20} MiB, "
                                      "more than an initramfs holds: not looked into whole")


class _Decompressor(Protocol):
    """One compressed stream: feed(input) -> output; `eof` once the stream ended, with the
    input after its end in `unused`."""

    eof: bool
    unused: bytes

    def feed(self, data: bytes) -> bytes: ...


class _Stdlib:
    """gzip (zlib), xz and lzma (lzma), bzip2 (bz2): each step's output is capped, and what
    the cap holds back comes out on the next steps before more input is fed."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.d = make()
        self.zlib = isinstance(self.d, type(zlib.decompressobj()))
        self.tail = b""
        self.more = False
        self.eof = False
        self.unused = b""

    def feed(self, data: bytes) -> bytes:
        if self.zlib:
            out: bytes = self.d.decompress(self.tail + data, STEP_OUTPUT)
            self.tail = self.d.unconsumed_tail
            self.more = bool(self.tail)
        else:
            out = self.d.decompress(data, STEP_OUTPUT)
            self.more = not self.d.eof and not self.d.needs_input
        if self.d.eof:
            self.eof = True
            self.unused = self.d.unused_data
        return out


class _Lz4Legacy:
    """Linux's legacy lz4 framing (lz4 -l): a magic, then blocks each preceded by its
    compressed size (little-endian), to the end of the input; the magic may recur."""

    def __init__(self) -> None:
        import lz4.block  # imported here: only lz4 images need it

        self.block = lz4.block
        self.buf = b""
        self.eof = False
        self.unused = b""

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            size = int.from_bytes(self.buf[:4], "little")
            if size == LZ4_LEGACY_MAGIC:
                self.buf = self.buf[4:]
                continue
            if size == 0 or size > LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK // 255 + 16:
                # Padding, or the next segment: the lz4 stream ends here.
                self.eof, self.unused, self.buf = True, self.buf, b""
                break
            if len(self.buf) < 4 + size:
                break
            try:
                out.append(self.block.decompress(self.buf[4:4 + size],
                                                 uncompressed_size=LZ4_LEGACY_BLOCK))
            except Exception as exc:  # lz4.block raises LZ4BlockError, not an OSError
                raise ImageError(CORRUPT, f"an lz4 block does not decompress ({exc})") from exc
            self.buf = self.buf[4 + size:]
        return b"".join(out)

    def finish(self) -> bool:
        """At the end of the input: whether it ended between blocks (the legacy format has
        no end mark)."""
        return len(self.buf) == 0


class _Zstd:
    # zstd takes no output limit per call: small input bounds each step (a block unpacks
    # to at most 128 KiB and costs at least 4 bytes: 1 KiB of input, at most 32 MiB).
    feed_size = 1024

    def __init__(self) -> None:
        import zstandard

        self.error = zstandard.ZstdError
        self.d = zstandard.ZstdDecompressor().decompressobj()
        self.eof = False
        self.unused = b""

    def feed(self, data: bytes) -> bytes:
        try:
            out: bytes = self.d.decompress(data)
        except self.error as exc:
            raise ImageError(CORRUPT, f"the zstd stream does not decompress ({exc})") from exc
        if self.d.eof:
            self.eof = True
            self.unused = self.d.unused_data
        return out


def _compression(head: bytes) -> tuple[str, Callable[[], _Decompressor]] | None:
    """The compression an image segment starts with (the kernel's lib/decompress.c table)."""
    if head[:2] in (b"\x1f\x8b", b"\x1f\x9e"):
        return "gzip", lambda: _Stdlib(lambda: zlib.decompressobj(16 + zlib.MAX_WBITS))
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz", lambda: _Stdlib(lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ))
    if head[:3] == b"\x5d\x00\x00":
        return "lzma", lambda: _Stdlib(lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE))
    if head[:3] == b"BZh":
        return "bzip2", lambda: _Stdlib(bz2.BZ2Decompressor)
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd", _Zstd
    if head[:4] == b"\x02\x21\x4c\x18":
        return "lz4", _Lz4Legacy
    return None


NOT_READABLE = {b"\x89\x4c\x5a": "lzo"}


class _Unpacked:
    """The decompressed bytes of one compressed segment, pulled as the parser needs them."""

    def __init__(self, raw: _Raw, name: str, decompressor: _Decompressor,
                 budget: _Budget) -> None:
        self.raw = raw
        self.name = name
        self.d = decompressor
        self.budget = budget
        self.buf = b""
        self.pos = 0  # what was handed out of buf: never sliced off (a bomb's buf is large)
        self.done = False
        self.feed_size = getattr(decompressor, "feed_size", CHUNK)

    def read(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n and not self.done:
            more = getattr(self.d, "more", False)
            chunk = b"" if more else self.raw.read(self.feed_size)
            if not chunk and not more:
                finish = getattr(self.d, "finish", None)
                if finish is not None and finish():
                    self.done = True
                    break
                raise ImageError(TRUNCATED, f"the {self.name} stream ends early, at byte "
                                            f"{self.raw.offset}: the image is cut off"
                                 + (" (or larger than can be read here)" if self.raw.capped
                                    else ""))
            try:
                out = self.d.feed(chunk)
            except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
                raise ImageError(CORRUPT, f"the {self.name} stream does not decompress near "
                                          f"byte {self.raw.offset} ({exc})") from exc
            self.budget.take(len(out))
            self.buf = self.buf[self.pos:] + out
            self.pos = 0
            if self.d.eof:
                self.raw.unread(self.d.unused)
                self.done = True
        out = self.buf[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    def unread(self, data: bytes) -> None:
        """Put back the end of what the last read returned (it is still in the buffer)."""
        self.pos -= len(data)


def _exact(stream: _Stream, n: int, what: str) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise ImageError(TRUNCATED, f"the image ends inside {what}: it is cut off")
        data += chunk
    return data


def _skip(stream: _Stream, n: int, what: str) -> None:
    while n > 0:
        chunk = stream.read(min(n, CHUNK))
        if not chunk:
            raise ImageError(TRUNCATED, f"the image ends inside {what}: it is cut off")
        n -= len(chunk)


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


def _archive(stream: _Stream, first: bytes, names: list[str], budget: _Budget | None) -> None:
    """One newc archive, its first byte already read, through its TRAILER!!! entry (and the
    padding after it to the next four bytes)."""
    head = first
    while True:
        head += _exact(stream, HEADER - len(head), "a cpio header")
        magic = head[:6]
        if magic not in (b"070701", b"070702"):
            raise ImageError(CORRUPT, f"a cpio header has magic {magic!r}, not 070701 "
                                      "(newc): the archive is corrupt")
        try:
            fields = [int(head[6 + 8 * i:14 + 8 * i].decode("ascii"), 16) for i in range(13)]
        except ValueError as exc:
            raise ImageError(CORRUPT, "a cpio header has fields that are not hexadecimal: "
                                      "the archive is corrupt") from exc
        size, namesize = fields[6], fields[11]
        if not 0 < namesize <= MAX_NAME:
            raise ImageError(CORRUPT, f"a cpio entry's name is {namesize} bytes long: the "
                                      "archive is corrupt")
        raw_name = _exact(stream, namesize + _pad(HEADER + namesize), "a cpio entry's name")
        name = raw_name[:namesize].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if budget is not None:
            budget.take(HEADER + len(raw_name))
        if name == TRAILER:
            return
        _skip(stream, size + _pad(size), f"the data of {name!r}")
        if budget is not None:
            budget.take(size)
        if len(names) >= MAX_ENTRIES:
            raise ImageError(TOO_BIG, f"it has more than {MAX_ENTRIES} entries, more than an "
                                      "initramfs holds: not looked into whole")
        clean = name.lstrip("/")
        while clean.startswith("./"):
            clean = clean[2:].lstrip("/")
        if clean not in ("", "."):
            names.append(clean)
        head = b""


def _after_zeros(stream: _Stream) -> bytes:
    """The first byte after zero padding, b"" at the end; what was read past it is put back.
    Read in chunks: a hostile image can be gigabytes of zeros."""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return b""
        rest = chunk.lstrip(b"\0")
        if rest:
            stream.unread(rest[1:])
            return rest[:1]


def _segment(unpacked: _Unpacked, names: list[str]) -> None:
    """A compressed segment: whole archives, padding between them, nothing else."""
    first = unpacked.read(1)
    if first != b"0":
        raise ImageError(CORRUPT, f"the {unpacked.name} segment does not hold a cpio archive")
    while True:
        _archive(unpacked, first, names, None)
        first = _after_zeros(unpacked)
        if not first:
            return
        if first != b"0":
            raise ImageError(CORRUPT, f"junk after an archive in the {unpacked.name} segment "
                                      "(the kernel stops unpacking there)")


def list_image_fd(fd: int, *, max_bytes: int = MAX_IMAGE_BYTES,
                  max_unpacked: int = MAX_UNPACKED_BYTES) -> ImageListing:
    """The listing of the image open at `fd` (read from its current offset)."""
    listing = ImageListing()
    size = os.fstat(fd).st_size
    if size > max_bytes:
        return ImageListing(TOO_BIG, f"the image is {size >> 20} MiB, larger than "
                                     f"{max_bytes >> 20} MiB: not looked into")
    raw = _Raw(fd, max_bytes)
    budget = _Budget(max_unpacked)
    try:
        while True:
            # The kernel skips zero bytes between archives and segments.
            start = _after_zeros(raw)
            if not start:
                break
            offset = raw.offset - 1
            if start == b"0":
                listing.segments.append("cpio")
                _archive(raw, start, listing.names, budget)
                continue
            raw.unread(start)
            head = raw.peek(6)
            found = _compression(head)
            if found is None:
                other = next((n for m, n in NOT_READABLE.items() if head.startswith(m)), None)
                if other:
                    raise ImageError(UNREADABLE, f"a {other} segment at byte {offset}: this "
                                                 "format is not readable here")
                raise ImageError(CORRUPT, f"unknown bytes at byte {offset} ({head!r}): neither a "
                                          "cpio archive nor a compression the kernel unpacks")
            name, make = found
            listing.segments.append(name)
            try:
                decompressor = make()
            except ImportError as exc:
                raise ImageError(UNREADABLE, f"a {name} segment at byte {offset}: this format "
                                             f"is not readable here ({exc})") from exc
            _segment(_Unpacked(raw, name, decompressor, budget), listing.names)
        if raw.capped:
            raise ImageError(TOO_BIG, f"the image is larger than {max_bytes >> 20} MiB: "
                                      "not looked into whole")
        if not listing.segments:
            raise ImageError(TRUNCATED, "the image is empty (or all zeros)")
    except ImageError as exc:
        listing.status, listing.problem = exc.status, exc.problem
    except OSError as exc:
        listing.status, listing.problem = TRUNCATED, f"the image cannot be read ({exc.strerror})"
    return listing


def list_initramfs(files: ConfinedRoot, path: str) -> ImageListing:
    """The listing of the target's image at `path`, opened inside its root (regular files
    only: a FIFO or a device node there is not read)."""
    try:
        fd = files.open_regular(path)
    except OSError as exc:
        return ImageListing(TRUNCATED, f"{path} cannot be opened as a regular file "
                                       f"({exc.strerror})")
    try:
        return list_image_fd(fd)
    finally:
        os.close(fd)
