"""Facts a failure's console lines carry: the kernel version, taint, module, faulting function,
init's exit code, the root device, the time."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from typing import Any

KERNEL_VERSION = (
    re.compile(r"Linux version (\S+)"),
    re.compile(r"\bComm: \S+(?: \S+)*? (?:Not tainted|Tainted: [A-Z ]+?) +(\d\S*) #"),
    re.compile(r"Loading Linux (\d\S*) \.\.\."),
    re.compile(r"Image Name:\s+Linux-(\d\S*)"),  # U-Boot
    re.compile(r"vmlinuz-(\d[^\s'`\"]*)"),
)
TAINT = re.compile(r"Tainted: ([A-Z ]+?) +\d")
RIP = re.compile(r"\b(?:RIP: [0-9a-f]{4}:|PC is at |pc : |NIP \[[0-9a-f]+\] |EIP: )"
                 r"\[?<?([A-Za-z_.][\w.]*\+0x[0-9a-f]+/0x[0-9a-f]+)")
TRACE_MODULE = re.compile(r"\+0x[0-9a-f]+/0x[0-9a-f]+ \[(\w+)\]")
# The module of the faulting function, where the RIP line names one.
RIP_MODULE = re.compile(RIP.pattern + r" \[(\w+)\]")
# One entry of "Modules linked in:": the name, then its own taint flags and state in brackets
# (O out-of-tree, E unsigned, P proprietary; + being loaded, - being unloaded).
LINKED_MODULE = re.compile(r"(\w+)(?:\(([A-Z+-]+)\))?$")
MODULE_STATE = {"+": "being loaded", "-": "being unloaded"}
MODULES_LINKED = re.compile(r"Modules linked in: ?(.*)")
EXIT_CODE = re.compile(r"exitcode=(0x[0-9a-fA-F]+)")
ROOT_DEVICE = (
    re.compile(r"ALERT!\s+(\S+) does not exist"),
    re.compile(r"Cannot open root device \"?([^\"\s]+)\"?"),
    re.compile(r"(/dev/mapper/\S+) does not exist"),
    re.compile(r"Warning: (/dev/\S+) does not exist"),
    re.compile(r"[Cc]ommand line:.*?\broot=(\S+)"),
)
UNKNOWN_BLOCK = re.compile(r"unknown-block\((\d+,\d+)\)")
TIMESTAMP = re.compile(r"^\s*\[\s*(\d+\.\d+)\]")

# For the scanner: lines carrying these facts are worth reading even without a signature.
FACT_PATTERNS = (r"Linux version \S+", r"Comm: \S+", r"Loading Linux \d", r"Tainted: ",
                 r"Image Name:\s+Linux-",
                 r"RIP: [0-9a-f]{4}:", r"Modules linked in:", r"[Cc]ommand line:.*root=",
                 r"\+0x[0-9a-f]+/0x[0-9a-f]+ \[\w+\]")

TAINT_FLAGS = {
    "P": "proprietary module loaded", "G": "only GPL modules loaded",
    "F": "module force-loaded", "S": "kernel running on out-of-spec hardware",
    "R": "module force-unloaded", "M": "machine check exception happened",
    "B": "bad page referenced", "U": "taint requested by userspace",
    "D": "kernel died recently (an earlier Oops or BUG)", "A": "ACPI table overridden",
    "W": "a kernel warning happened", "C": "staging driver loaded",
    "I": "firmware bug workaround applied", "O": "out-of-tree module loaded",
    "E": "unsigned module loaded", "L": "soft lockup happened", "K": "kernel live-patched",
    "X": "auxiliary taint (distribution-defined)", "T": "built with struct randomization",
    "N": "test taint",
}
EXIT_MEANINGS = {
    127: "a program or a library it needs is missing (exit 127)",
    126: "a program exists but cannot be executed: permissions or a wrong binary (exit 126)",
    1: "init reported a failure (exit 1): in an initramfs, run-init could not start init",
    2: "init was misused or could not parse its arguments (exit 2)",
}


def decode_exit_code(code: str) -> dict[str, Any]:
    """`exitcode=0x00007f00` as the kernel reports PID 1's wait status: exit status or signal."""
    value = int(code, 16)
    signo = value & 0x7F
    if signo == 0:
        status = (value >> 8) & 0xFF
        return {"raw": code, "kind": "exit", "status": status,
                "meaning": EXIT_MEANINGS.get(status, f"init exited with status {status}")}
    try:
        name = signal.Signals(signo).name
    except ValueError:
        name = f"signal {signo}"
    core = " (core dumped)" if value & 0x80 else ""
    meaning = {
        "SIGSEGV": "init crashed (segmentation fault): a damaged binary or library, bad memory",
        "SIGBUS": "init crashed (bus error): a damaged or truncated file, or a disk error",
        "SIGILL": "init crashed (illegal instruction): a binary for another CPU",
        "SIGABRT": "init aborted itself: a failed assertion, often a missing resource",
        "SIGKILL": "init was killed",
    }.get(name, f"init was killed by {name}")
    return {"raw": code, "kind": "signal", "signal": name, "meaning": meaning + core}


def decode_taint(flags: str) -> list[str]:
    return [f"{f}: {TAINT_FLAGS[f]}" for f in flags.replace(" ", "") if f in TAINT_FLAGS]


@dataclass
class Facts:
    kernel: str | None = None
    taint: str | None = None
    rip: str | None = None
    rip_module: str | None = None
    modules_in_trace: list[str] = field(default_factory=list)
    modules_linked: list[str] = field(default_factory=list)
    exit_code: str | None = None
    root_device: str | None = None
    unknown_block: str | None = None
    timestamp: str | None = None
    command_line_root: str | None = None

    def absorb(self, text: str) -> None:
        """Take the facts a console line carries; later lines of the same boot win."""
        for pattern in KERNEL_VERSION:
            m = pattern.search(text)
            if m:
                self.kernel = m.group(1).rstrip(".,;:'`\"")
                break
        if m := TAINT.search(text):
            self.taint = m.group(1).strip()
        if "Not tainted" in text and self.taint is None:
            self.taint = ""
        if m := RIP.search(text):
            self.rip = m.group(1)
            found = RIP_MODULE.search(text)
            self.rip_module = found.group(2) if found else None
        for module in TRACE_MODULE.findall(text):
            if module not in self.modules_in_trace:
                self.modules_in_trace.append(module)
        if m := MODULES_LINKED.search(text):
            self.modules_linked = m.group(1).split()
        if m := EXIT_CODE.search(text):
            self.exit_code = m.group(1)
        for pattern in ROOT_DEVICE:
            if m := pattern.search(text):
                if pattern is ROOT_DEVICE[-1]:
                    self.command_line_root = m.group(1)
                else:
                    self.root_device = m.group(1)
                break
        if m := UNKNOWN_BLOCK.search(text):
            self.unknown_block = m.group(1)

    @property
    def blamed_module(self) -> str | None:
        """The module the trace blames: the faulting function's, else the first in the trace."""
        return self.rip_module or (self.modules_in_trace[0] if self.modules_in_trace else None)

    def module_flags(self, name: str) -> str | None:
        """`name`'s own flags in "Modules linked in:" ("OE+"); "" when listed without any;
        None when not listed."""
        for word in self.modules_linked:
            m = LINKED_MODULE.match(word)
            if m and m.group(1).replace("-", "_") == name.replace("-", "_"):
                return m.group(2) or ""
        return None

    def describe_module(self, name: str) -> str:
        """`name` with what "Modules linked in:" says of it: "acme (OE+: out-of-tree module
        loaded; unsigned module loaded; being loaded)"."""
        flags = self.module_flags(name)
        if not flags:
            return name
        meanings = [TAINT_FLAGS[f].removesuffix(" loaded") for f in flags if f in TAINT_FLAGS]
        meanings += [MODULE_STATE[f] for f in flags if f in MODULE_STATE]
        return f"{name} ({flags}: {'; '.join(meanings)})"

    def to_json(self) -> dict[str, Any]:
        blamed = self.blamed_module
        return {
            "kernel": self.kernel,
            "taint": self.taint,
            "taint_decoded": decode_taint(self.taint) if self.taint else [],
            "faulting_function": self.rip,
            "faulting_module": self.rip_module,
            "blamed_module": {"name": blamed, "flags": self.module_flags(blamed),
                              "described": self.describe_module(blamed)} if blamed else None,
            "modules_in_trace": self.modules_in_trace,
            "modules_linked": self.modules_linked[:50],
            "exit_code": decode_exit_code(self.exit_code) if self.exit_code else None,
            "root_device": self.root_device or self.command_line_root,
            "unknown_block": self.unknown_block,
            "timestamp": self.timestamp,
        }
