"""Diagnosis: classes and facts on real console logs, boots, hostile input, constant memory,
and the decision tree."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from conftest import rescuetui
from hypothesis import given, settings
from hypothesis import strategies as st

from rescuetui.diagnose.classifier import diagnose_stream
from rescuetui.diagnose.facts import decode_exit_code, decode_taint
from rescuetui.diagnose.scanner import BLOCK
from rescuetui.diagnose.signatures import CLASSES
from rescuetui.diagnose.tree import ENTRY, NODES, walk
from rescuetui.lab.scenarios import SCENARIOS

DATA = Path(__file__).parent / "data"
SERIAL = DATA / "serial"
CORPUS = DATA / "panics"
LAB_KERNEL = "6.1.0-50-cloud-amd64"
# Scenarios whose failing boot is of another kernel (the two-kernel base's newest).
LAB_KERNELS = {"newest-kernel-panics": "6.12.95+deb12-cloud-amd64"}


def diagnose_bytes(raw: bytes, name: str = "test") -> object:
    return diagnose_stream(io.BytesIO(raw), name)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_lab_serial_logs(name: str) -> None:
    """The serial console of each scenario's real first boot: class and failing kernel."""
    d = diagnose_stream(open(SERIAL / f"{name}.log", "rb"), name)
    assert d.class_id == SCENARIOS[name].expected_class
    if SCENARIOS[name].kernel_in_console:
        assert d.facts.kernel == LAB_KERNELS.get(name, LAB_KERNEL)
    if d.class_id != "unknown":  # a firmware that stops, or a shell as init, says nothing more
        assert d.failed and d.evidence


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*/*.log")) if CORPUS.is_dir() else []


@pytest.mark.parametrize("log", _corpus(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_corpus_file(log: Path) -> None:
    """Verbatim excerpts from public bug reports (each with a .source file citing it)."""
    source = log.with_suffix(".source").read_text()
    assert "url:" in source
    d = diagnose_stream(open(log, "rb"), log.name)
    assert d.class_id == log.parent.name, [e.text for e in d.evidence]
    kernel = next((line.split(":", 1)[1].split(" (")[0].strip() for line in source.splitlines()
                   if line.startswith("kernel:")), "none in excerpt")
    if kernel != "none in excerpt":
        assert d.facts.kernel == kernel


def test_corpus_covers_every_class() -> None:
    """Every class has a public excerpt, or else real recorded boots of the lab: no public
    report quotes dracut's 'Break before switch_root' (dracut-ng/dracut#1621 quotes only the
    emergency banner, which real failures print too), so boot-stopped is proven by the lab's
    bad-init and dracut-rd-break consoles (test_lab_serial_logs)."""
    if not _corpus():
        pytest.skip("the corpus is not in this checkout")
    counts = {c: len(list((CORPUS / c).glob("*.log"))) for c in CLASSES}
    for name, scenario in SCENARIOS.items():
        if (SERIAL / f"{name}.log").is_file():
            counts[scenario.expected_class] = counts.get(scenario.expected_class, 0) + 1
    assert all(n >= 1 for n in counts.values()), counts


# The kinds of real-world text that once slipped past the signatures (issue 14), tagged by a
# `kind:` line in an excerpt's .source file, with the class each must land in.
CORPUS_KINDS = {
    "fs-corruption": "fs-boot-error",  # the kernel's filesystem reports, fsck under any init
    "no-init-found": "init-killed",  # "No working init found." / older "No init found."
    "modules-load": "module-sig",  # systemd-modules-load failures only
    "machine-check": "nmi-mce",  # machine checks, also the old x86 and the powerpc Oops way
}


def test_corpus_size_and_kinds() -> None:
    """The corpus keeps its size, and each kind of text that once slipped through keeps at
    least three real excerpts, in the class that kind belongs to."""
    logs = _corpus()
    if not logs:
        pytest.skip("the corpus is not in this checkout")
    assert len(logs) >= 120, len(logs)
    kinds: dict[str, list[str]] = {kind: [] for kind in CORPUS_KINDS}
    for log in logs:
        for line in log.with_suffix(".source").read_text().splitlines():
            if line.startswith("kind:"):
                kind = line.split(":", 1)[1].strip()
                assert kind in CORPUS_KINDS, (log, kind)
                assert log.parent.name == CORPUS_KINDS[kind], (log, kind)
                kinds[kind].append(log.stem)
    assert all(len(names) >= 3 for names in kinds.values()), kinds


def test_exit_codes_are_decoded() -> None:
    assert decode_exit_code("0x00007f00")["status"] == 127
    assert "missing" in decode_exit_code("0x00007f00")["meaning"]
    assert decode_exit_code("0x00007e00")["status"] == 126
    assert decode_exit_code("0x0000000b")["signal"] == "SIGSEGV"
    assert decode_exit_code("0x00000100") == {
        "raw": "0x00000100", "kind": "exit", "status": 1,
        "meaning": "init reported a failure (exit 1): in an initramfs, run-init could not start "
                   "init"}
    assert "core dumped" in decode_exit_code("0x0000008b")["meaning"]


def test_taint_and_trace_facts() -> None:
    log = (b"[  12.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
           b"[  12.0] CPU: 3 PID: 812 Comm: modprobe Tainted: P           OE      "
           b"5.15.0-91-generic #101-Ubuntu\n"
           b"[  12.0] RIP: 0010:nv_dma_map+0x2a/0x90 [nvidia]\n"
           b"[  12.0] Call Trace:\n[  12.0]  <TASK>\n"
           b"[  12.0]  nv_probe+0x1c4/0x3f0 [nvidia]\n"
           b"[  12.1] Kernel panic - not syncing: Fatal exception\n")
    d = diagnose_bytes(log)
    assert d.class_id == "oops"
    assert d.facts.kernel == "5.15.0-91-generic"
    assert d.facts.taint == "P           OE"
    assert [t[0] for t in decode_taint(d.facts.taint)] == ["P", "O", "E"]
    assert d.facts.rip == "nv_dma_map+0x2a/0x90"
    assert d.facts.modules_in_trace == ["nvidia"]
    assert d.facts.timestamp == "12.0"


def test_several_boots_diagnose_the_last_failure() -> None:
    ok = (SERIAL / "login.log").read_bytes()
    bad = (SERIAL / "library-deleted.log").read_bytes()
    d = diagnose_bytes(ok + bad + ok)
    assert (d.class_id, d.boot, d.boots) == ("init-killed", 2, 3)
    assert d.evidence[0].number > ok.count(b"\n") + 1
    d = diagnose_bytes(bad + ok)
    assert (d.class_id, d.boot, d.boots) == ("init-killed", 1, 2)
    d = diagnose_bytes(ok)
    assert d.class_id == "unknown" and not d.failed and d.reached_login


def test_noise_crlf_escapes_nul_and_gzip() -> None:
    raw = (SERIAL / "library-deleted.log").read_bytes()
    noisy = raw.replace(b"\n", b"\r\n").replace(b"Kernel", b"\x1b[1mKer\x00nel\x1b[0m")
    noisy = b"\xff\xfe\x00garbage\x07" * 1000 + b"\n" + noisy
    d = diagnose_bytes(noisy)
    assert d.class_id == "init-killed" and d.facts.exit_code == "0x00007f00"
    assert all("\x1b" not in line.text for line in d.evidence)
    d = diagnose_stream(gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(raw))), "kern.log.2.gz")
    assert d.class_id == "init-killed"


def test_a_huge_line_without_newline() -> None:
    raw = b"x" * (3 * BLOCK + 17) + b"\n" + (SERIAL / "initramfs-deleted.log").read_bytes()
    assert diagnose_bytes(raw).class_id == "vfs-root"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    d = diagnose_bytes(raw)
    assert d.class_id in CLASSES
    json.dumps(d.to_json())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([
    b"Kernel panic - not syncing: ", b"VFS: Unable to mount root fs", b"Linux version 6.1.0 ",
    b"GNU GRUB  version 2.06", b"login: ", b"\n", b"\r", b"\x1b[0m", b"\x00", b"exitcode=0x",
    b"Attempted to kill init!", b"CPU: 0 PID: 1 Comm: init Not tainted 6.1.0 #1",
    b"ALERT!  UUID=x does not exist.", b"You are in emergency mode", b"(initramfs) "]),
    max_size=40))
def test_log_shaped_input_never_raises(parts: list[bytes]) -> None:
    assert diagnose_bytes(b"".join(parts)).class_id in CLASSES


class GeneratedLog(io.RawIOBase):
    """A log of `size` bytes made on the fly: boot noise, and a panic at the end. It fails the
    test if anyone reads it whole."""

    LINE = b"[  123.456789] systemd[1]: Started session-42.scope - Session 42 of User root.\n"

    def __init__(self, size: int) -> None:
        self.left = size
        self.tail = (SERIAL / "library-deleted.log").read_bytes()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        assert 0 < n <= BLOCK, f"read({n}): the whole file was asked for"
        if self.left > 0:
            count = max(1, min(n, self.left) // len(self.LINE))
            self.left -= count * len(self.LINE)
            return self.LINE * count
        out, self.tail = self.tail[:n], self.tail[n:]
        return out


def test_memory_stays_flat_on_a_large_log() -> None:
    tracemalloc.start()
    d = diagnose_stream(GeneratedLog(200 << 20), "generated")  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert d.class_id == "init-killed"
    assert peak < 48 << 20, f"peak {peak >> 20} MiB while reading 200 MiB"


def test_every_class_has_a_tree_and_every_edge_lands() -> None:
    assert set(ENTRY) == set(CLASSES)
    for node in NODES.values():
        assert node.explanation and node.title
        for target in node.next.values():
            assert target in NODES, (node.id, target)
    for class_id in CLASSES:
        path = walk(class_id)
        assert path and path[0].id == ENTRY[class_id]
        assert any(n.fixes or n.checks for n in path)


def test_findings_choose_the_branch() -> None:
    ids = [n.id for n in walk("init-killed", {"init-exit-code": "exit-126"})]
    assert ids[:2] == ["init-exit-code", "permissions"]
    ids = [n.id for n in walk("vfs-root", {"initramfs-present": "ok", "root-parameter":
                                           "wrong-disk"})]
    assert ids == ["initramfs-present", "root-parameter", "fix-bootloader"]


def test_cli_json_and_stdin() -> None:
    log = (SERIAL / "loader-not-executable.log").read_bytes()
    out = rescuetui("diagnose", "--log", "-", "--json", input=log)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["class"] == "init-killed" and data["facts"]["kernel"] == LAB_KERNEL
    assert data["facts"]["exit_code"]["status"] == 1
    assert data["path"][0]["id"] == "init-exit-code"
    assert data["path"][1]["id"] == "permissions"
    out = rescuetui("diagnose", "--log", "/nonexistent.log")
    assert out.returncode == 1 and b"Cannot read the log" in out.stderr


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.boot
def test_diagnose_disk_reads_the_systems_own_journal(tmp_path: Path) -> None:
    """Boot the fstab scenario for real, keep what the boot wrote (its journal), then diagnose
    from the disk alone: the journal of the failed boot names the class."""
    import shutil

    from rescuetui.lab.boot import boot
    from rescuetui.lab.scenario import build_scenario

    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86 is not installed (run `make setup`)")
    image = tmp_path / "fstab.img"
    build_scenario(SCENARIOS["fstab-missing-disk"], image, journal_base=tmp_path / "j")
    assert boot(image, timeout=300, keep_changes=True).outcome == "emergency"
    out = rescuetui("diagnose", "--disk", str(image), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["class"] == "fs-boot-error", data
    assert data["source"].startswith("journal (boot")
    assert data["facts"]["kernel"] == LAB_KERNEL
    assert any("/data" in e["text"] for e in data["evidence"])
    assert any("dpkg.log" in c for c in data["recent_changes"])


@pytest.mark.parametrize(("log", "path"), [
    ("root-fs-errors", ["fstab-entries", "fsck", "fix-fsck"]),
    ("fstab-missing-disk", ["fstab-entries", "fix-fstab"]),
    ("kernel-truncated", ["grub-stage", "bootloader-files", "fix-kernel"]),
    ("grub-cfg-deleted", ["grub-stage", "grub-config"]),
    ("grub-modules-deleted", ["grub-stage", "reinstall-grub"]),
    ("esp-loader-deleted", ["grub-stage", "reinstall-grub"]),
    ("initramfs-no-disk-driver", ["root-device", "fix-initramfs"]),
    ("library-deleted", ["init-exit-code", "missing-files", "fix-reinstall"]),
])
def test_the_evidence_chooses_the_way(log: str, path: list[str]) -> None:
    out = rescuetui("diagnose", "--json", "--log", str(SERIAL / f"{log}.log"))
    assert [n["id"] for n in json.loads(out.stdout)["path"]] == path
