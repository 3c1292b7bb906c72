"""A whole repair: find the system, check its filesystems unmounted, mount it, diagnose, check
everything boot needs, plan each fix, ask, apply, verify, and check everything again."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rescuetui.checks import BOOT_CHECKS
from rescuetui.checks.base import Finding, TargetContext
from rescuetui.checks.default_kernel import check_default_kernel
from rescuetui.checks.filesystems import check_filesystem
from rescuetui.checks.superblock import check_superblock
from rescuetui.core.errors import RescueError
from rescuetui.core.inventory import scan_inventory
from rescuetui.core.session import RescueSession
from rescuetui.core.superblock import unidentified_devices
from rescuetui.core.target import TargetSystem, choose_candidate
from rescuetui.diagnose.classifier import Diagnosis, diagnose_file, primary
from rescuetui.diagnose.facts import decode_exit_code
from rescuetui.diagnose.machine import MachineEvidence, machine_drivers
from rescuetui.diagnose.target_logs import diagnose_target
from rescuetui.diagnose.tree import NODES, findings_from_evidence, walk
from rescuetui.fixes import DIAGNOSIS_FIXES, FIX_FOR_CHECK, OPT_IN_FIXES
from rescuetui.fixes.base import Applied, FixPlan, apply_plan
from rescuetui.fixes.fsck import plan_fsck, plan_xfs_zero_log
from rescuetui.fixes.module_blacklist import verify_module_blacklist
from rescuetui.fixes.prevention import verify_kdump, verify_serial_console
from rescuetui.fixes.previous_kernel import previous_kernel
from rescuetui.fixes.rca import write_rca
from rescuetui.fixes.runtime_way import choose_way
from rescuetui.fixes.superblock import plan_superblock_restore, verify_restored

# Exit statuses of `rescuetui repair` (stable for automation).
REPAIRED = 0
NOTHING_FOUND = 3
FIX_FAILED = 5
REFUSED = 6
WOULD_REPAIR = 7  # a dry run: the checks found problems and the fixes listed would repair them
MAX_ROUNDS = 8  # fixes in one repair; each round re-runs every check
# Panics of a running kernel (not of a boot that cannot find its root): the previous kernel
# is the first way out.
RUNTIME_CLASSES = frozenset({"oops", "kernel-bug", "lockup"})
LINUX_DATA_TYPES = frozenset({"0x83", "0fc63daf-8483-4772-8e79-3d69d8477de4"})


@dataclass
class RepairReport:
    journal: str = ""
    diagnosis: dict[str, Any] | None = None
    path: list[str] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    remaining: list[dict[str, Any]] = field(default_factory=list)
    found_problems: bool = False
    rca: str = ""  # the root cause note written beside the journal
    notes: list[str] = field(default_factory=list)  # what opening the disk's volumes said
    way: str = ""  # after a run-time panic: which way out was taken unasked, and why
    dry_run: bool = False  # then `applied` holds what would be applied: nothing ran

    @property
    def would_apply(self) -> list[str]:
        return [a["fix"] for a in self.applied if a.get("would_apply")]

    @property
    def status(self) -> int:
        if any(not a["ok"] or not (a["verified"] or a.get("would_apply")) for a in self.applied
               if "superseded_by" not in a):
            return FIX_FAILED
        if self.refused:
            return REFUSED
        if self.remaining:
            return FIX_FAILED
        if self.dry_run and self.would_apply:
            return WOULD_REPAIR
        return REPAIRED if self.found_problems else NOTHING_FOUND

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "journal": self.journal, "diagnosis": self.diagnosis,
                "path": self.path, "applied": self.applied, "refused": self.refused,
                "remaining": self.remaining, "rca": self.rca, "notes": self.notes,
                "way": self.way, "dry_run": self.dry_run, "would_apply": self.would_apply}


Confirm = Callable[[FixPlan], bool]
# A front end's hook at each stage (found, mounted, evidence, diagnosed, checked, applied,
# verified): it may show what the stage found, wait for the operator, and answer (the chosen
# candidate at "found", more console logs at "evidence"). The CLI passes none.
Stage = Callable[..., Any]


def no_stage(name: str, **data: Any) -> Any:
    return None


class Repair:
    def __init__(
        self,
        *,
        disk: str,
        root: str | None = None,
        logs: list[Path] | None = None,
        confirm: Confirm,
        say: Callable[[str], None],
        only: list[str] | None = None,
        dry_run: bool = False,
        journal_base: Path | None = None,
        module: str | None = None,
        stage: Stage = no_stage,
        unlock: dict[str, Any] | None = None,
    ) -> None:
        self.disk, self.root, self.logs = disk, root, logs or []
        self.confirm, self.say, self.only, self.dry_run = confirm, say, only, dry_run
        self.journal_base = journal_base
        self.module = module
        self.stage = stage
        # What opens the disk's LUKS and RAID devices (RescueSession.unlock_with): a key file,
        # a passphrase, --assemble-raid, and for the TUI a prompt (the "passphrase" stage).
        self.unlock = dict(unlock or {})
        self.report = RepairReport(dry_run=dry_run)
        self.tried: set[str] = set()
        # A dry run: the files the fixes that would apply change. A later finding about one of
        # them is what that fix repairs (the grub.cfg entry whose initramfs it rebuilds).
        self.would_change: dict[str, str] = {}
        self.would_fix: set[str] = set()  # keys of the findings a planned fix would repair
        self.target_machine = MachineEvidence()  # the disk drivers the system's own logs name
        self.diagnosis: Diagnosis | None = None
        self.evidence_findings: dict[str, str] = {}  # what the console text settles in the tree
        self.check_words: dict[str, str] = {}  # check id -> its word, for the tree's way
        self.path_settled = False  # the way was walked again with the checks' findings

    def run(self) -> RepairReport:
        self._run()
        if self.report.journal and not self.dry_run:
            written = write_rca(self.report.to_json(), Path(self.report.journal))
            self.report.rca = str(written) if written else ""
        return self.report

    def _run(self) -> None:
        session = RescueSession(journal_base=self.journal_base, dry_run=self.dry_run)
        session.unlock_with(**self.unlock)
        try:
            self._repair(session)
        finally:
            self.report.notes += [f"Teardown: {p}" for p in session.close()]

    def _repair(self, session: RescueSession) -> None:
        assert session.journal is not None
        self.report.journal = str(session.journal.directory)
        disks = session.attach(self.disk)
        left: list[Finding] = []
        if disks is not None and self._restore_superblocks(session, disks, left):
            session.inventory = scan_inventory()  # the restored filesystems show again
        candidates = session.search(disks)
        self.report.notes = list(session.notes)  # a superblock left destroyed is among them
        if not candidates and left and not self.root:
            # Not "no Linux system found": the root is most likely the filesystem left broken.
            self.say("No installed Linux system can be found until this is restored: "
                     + " ".join(f.summary for f in left))
            return
        chosen = self.stage("found", candidates=candidates, inventory=session.inventory,
                            where=session.where, notes=self.report.notes)
        candidate = chosen or choose_candidate(candidates, self.root, session.where)
        pre, _ = session.inspect(candidate)
        self._repair_filesystems(session, pre)
        target = session.open_candidate(candidate, disk=os.path.abspath(self.disk))
        self.stage("mounted", target=target, tree=session.tree)
        self.logs += self.stage("evidence", target=target, journal=session.journal) or []
        diagnosis = self._diagnose(session)
        self.stage("diagnosed", diagnosis=diagnosis, path=self.report.path)
        ctx = TargetContext(session.root, target, session.runner, "")
        if session.unmounted_system_mounts() and not self._mount_system(session, ctx):
            return
        ctx.target = session.target or target
        self._machine(session, ctx)
        ctx.kernel = self._kernel(ctx.target, diagnosis)
        session.journal.decision("kernel to repair", ctx.kernel)
        self._fix_until_clean(session, ctx)
        if self._diagnosis_fixes(session, ctx, diagnosis):
            # What they ran (update-grub, a rebuild) can undo an earlier fix: without udev,
            # grub-mkconfig writes the rescue host's device as root= again. Check again.
            self.tried.clear()
            self._fix_until_clean(session, ctx)

    def _mount_system(self, session: RescueSession, ctx: TargetContext) -> bool:
        """A system filesystem (/boot, ...) is not mounted because fstab names it wrongly: that
        comes first, or every fix that writes there would write to the root filesystem."""
        missing = ", ".join(o.entry.entry.mountpoint for o in session.unmounted_system_mounts())
        self.say(f"{missing} could not be mounted: fixing /etc/fstab before anything else.")
        self.report.found_problems = True
        finding = BOOT_CHECKS["fstab"](ctx)
        self._record_check(session, finding)
        if not finding.ok:
            self.tried.add(self._key(finding))
            applied = self._apply(session, FIX_FOR_CHECK["fstab"](ctx, finding), ctx)
            if applied and applied.ok and self.dry_run:
                self.report.notes.append(
                    f"Dry run: the other fixes are planned once {missing} mounts, after the "
                    "fstab fix; run without --dry-run to go on.")
                return False
            if applied and applied.ok:
                session.mount_missing()
                ctx.target = session.target or ctx.target
                self._verified(session, applied.plan, BOOT_CHECKS["fstab"](ctx))
        if session.unmounted_system_mounts():
            self.report.refused.append(
                f"every other fix: {missing} is still not mounted, and what a fix writes there "
                "would land on the root filesystem, where the boot loader never looks")
            return False
        return True

    # -- before looking for the root: destroyed superblocks ---------------------------------

    def _restore_superblocks(self, session: RescueSession, disks: list[str],
                             left: list[Finding]) -> bool:
        """Filesystems of the chosen disk that libblkid cannot see but whose backup superblock
        is intact: restored first, or the root (or /boot) among them is never found. Those
        not restored (refused, failed, a dry run) go to `left`."""
        assert session.inventory is not None
        restored = False
        for device in unidentified_devices(session.inventory, disks):
            finding = check_superblock(device)
            self._record_check(session, finding)
            if finding.ok:
                continue
            self.report.found_problems = True
            plan = plan_superblock_restore(finding, device)
            applied = self._apply(session, plan, None)
            if applied is None or not applied.ok or self.dry_run:
                left.append(finding)
            if applied and applied.ok and not self.dry_run:
                again = verify_restored(plan)
                self._verified(session, plan, again)
                restored = restored or again.ok
        return restored

    # -- before mounting: filesystems ------------------------------------------------------

    def _repair_filesystems(self, session: RescueSession, pre: TargetSystem) -> None:
        devices: list[tuple[str, str | None]] = [(pre.device, pre.fstype)]
        devices += [(r.device, r.entry.fstype) for r in pre.fstab
                    if r.status == "resolved" and r.device and r.entry.kind == "filesystem"
                    and r.entry.mountpoint != "/"]
        assert session.inventory is not None
        # Linux partitions of the disk where libblkid sees nothing: maybe a filesystem whose
        # superblock is gone (then fstab cannot find it either).
        devices += [(d.path, None) for d in session.inventory.partitions_of(pre.disk)
                    if d.identity.fstype is None and d.identity.error is None
                    and (d.identity.partition_type or "").lower() in LINUX_DATA_TYPES]
        repaired = False
        for device, fstype in devices:
            finding = check_filesystem(session.runner, device, fstype)
            self._record_check(session, finding)
            if device == pre.device or not finding.ok:
                self.check_words["filesystem"] = finding.finding
            if finding.ok:
                continue
            self.report.found_problems = True
            plan = plan_fsck(finding, session.state.directory / "replay")
            applied = self._apply(session, plan, None)
            if applied and not applied.ok and applied.results[-1].argv[0] == "mount":
                # The log could not be replayed: throwing it away is the only way on.
                plan = plan_xfs_zero_log(finding, applied.message)
                self.report.applied[-1]["superseded_by"] = plan.fix
                applied = self._apply(session, plan, None)
            if applied and applied.ok and not self.dry_run:
                again = check_filesystem(session.runner, device, finding.data["fstype"])
                self._verified(session, plan, again)
                repaired = True
        if repaired and not self.dry_run:
            session.inventory = scan_inventory()  # a restored superblock brings its UUID back

    # -- diagnosis ---------------------------------------------------------------------------

    def _diagnose(self, session: RescueSession) -> Diagnosis | None:
        diagnoses = [diagnose_file(log) for log in self.logs]
        on_disk, evidence = diagnose_target(session.root)
        diagnoses += on_disk
        self.target_machine = evidence.machine
        chosen = primary(diagnoses)
        if chosen is None:
            self.say("No console text and no logs on the disk: checking everything boot needs.")
            return None
        code = decode_exit_code(chosen.facts.exit_code) if chosen.facts.exit_code else None
        self.diagnosis = chosen
        self.evidence_findings = findings_from_evidence(
            chosen.class_id, code, [line.text for line in chosen.evidence])
        # As far as the console text settles it; the checks choose the rest (_settle_path).
        path = walk(chosen.class_id, self.evidence_findings, checks_pending=True)
        self.report.diagnosis = {"class": chosen.class_id, "title": chosen.title,
                                 "kernel": chosen.facts.kernel, "source": chosen.source}
        self.report.path = [n.id for n in path]
        assert session.journal is not None
        session.journal.append("diagnosis", diagnosis=chosen.to_json(), path=self.report.path)
        self.say(f"Diagnosis: {chosen.class_id} ({chosen.title})"
                 + (f", kernel {chosen.facts.kernel}" if chosen.facts.kernel else "")
                 + f"; way: {' -> '.join(self.report.path)}")
        return chosen

    def _machine(self, session: RescueSession, ctx: TargetContext) -> None:
        """The disk drivers of the machine the system boots on: from the console logs given,
        else from the system's own logs of earlier boots."""
        found = machine_drivers([(log.name, log) for log in self.logs])
        if not found.drivers:
            found = self.target_machine  # read with the diagnosis, from the same exports
        ctx.machine_drivers, ctx.machine_evidence = found.drivers, found.evidence
        assert session.journal is not None
        session.journal.append("machine", drivers=found.drivers, evidence=found.evidence,
                               hypervisor=found.hypervisor)
        if found.drivers:
            self.say(f"The machine it boots on has disks behind {', '.join(found.drivers)} "
                     f"(from {found.evidence[0].split(':', 1)[0]}).")

    @staticmethod
    def _kernel(target: TargetSystem, diagnosis: Diagnosis | None) -> str:
        """The kernel that failed, when it is installed; else the newest (GRUB's default)."""
        installed = [k.version for k in target.kernels]
        if diagnosis and diagnosis.facts.kernel in installed:
            return str(diagnosis.facts.kernel)
        if not installed:
            raise RescueError(f"No kernel is installed on {target.device} (/boot and /lib/modules "
                              "are empty): reinstall one from a chroot with network.")
        return installed[0]

    # -- the mounted system ------------------------------------------------------------------

    def _checks(self, session: RescueSession, ctx: TargetContext) -> list[Finding]:
        ctx.reread_boot_chain()
        findings = []
        for check in BOOT_CHECKS.values():
            finding = check(ctx)
            findings.append(finding)
            self._record_check(session, finding)
        if not self.path_settled:
            self._settle_path(session, ctx, findings)
        self.stage("checked", findings=findings, path=self.report.path)
        return findings

    def _settle_path(self, session: RescueSession, ctx: TargetContext,
                     findings: list[Finding]) -> None:
        """The way through the tree once the checks have looked: their findings choose the
        branches the console text left open, and a fix that cannot apply is not offered."""
        self.path_settled = True
        if self.diagnosis is None:
            return
        self.check_words.update({f.check: f.finding for f in findings})
        unavailable = ({"previous-kernel"} if previous_kernel(ctx.target.kernels, ctx.kernel)
                       is None else set())
        path = [n.id for n in walk(self.diagnosis.class_id, self.evidence_findings,
                                   self.check_words, unavailable)]
        if path != self.report.path:
            self.report.path = path
            assert session.journal is not None
            session.journal.append("path", path=path, checks=self.check_words)
            self.say(f"The checks choose the way: {' -> '.join(path)}")

    def _fix_until_clean(self, session: RescueSession, ctx: TargetContext) -> None:
        for _ in range(MAX_ROUNDS):
            problems = [f for f in self._checks(session, ctx) if not f.ok]
            if problems:
                self.report.found_problems = True
            todo = sorted((f for f in problems
                           if f.check in FIX_FOR_CHECK and f.finding != "unchecked"),
                          key=lambda f: list(FIX_FOR_CHECK).index(f.check))
            todo = [f for f in todo if self._key(f) not in self.tried
                    and not self._would_be_fixed(f)]
            if not todo:
                left = [f for f in problems if not self._would_be_fixed(f)]
                self.report.remaining = [f.to_json() for f in left]
                for f in left:
                    self.say(f"Not repaired: {f.check}: {f.summary}")
                return
            finding = todo[0]
            self.tried.add(self._key(finding))
            plan = FIX_FOR_CHECK[finding.check](ctx, finding)
            applied = self._apply(session, plan, ctx)
            if applied is None or not applied.ok:
                self.report.remaining = [f.to_json() for f in problems if f is not finding]
                return
            if self.dry_run:
                self.would_fix.add(self._key(finding))
                continue
            if finding.check == "fstab" and not self.dry_run:
                session.mount_missing()
                ctx.target = session.target or ctx.target
            ctx.reread_boot_chain()
            self._verified(session, plan, BOOT_CHECKS[finding.check](ctx))
        self.say("Stopped after the most fixes one repair makes; run it again to go on.")

    def _diagnosis_fixes(self, session: RescueSession, ctx: TargetContext,
                         diagnosis: Diagnosis | None) -> bool:
        """Fixes the diagnosis calls for, beyond what the checks found. Only one is applied
        unasked: after a run-time panic, the way out `choose_way` picks (the previous kernel, or
        a blacklist of the out-of-tree module the trace blames), said and journaled with its
        reason. The others (the serial console, kdump, the way not taken) change how the system
        runs: suggested, applied only when --fix names them. Returns whether any was applied."""
        asked = set(self.only or [])
        wanted = [fix for node_id in self.report.path for fix in NODES[node_id].fixes
                  if fix in DIAGNOSIS_FIXES
                  and not (fix == "previous-kernel"
                           and previous_kernel(ctx.target.kernels, ctx.kernel) is None)]
        wanted += [fix for fix in asked if fix in DIAGNOSIS_FIXES and fix not in wanted]
        runtime = diagnosis is not None and diagnosis.class_id in RUNTIME_CLASSES
        facts = diagnosis.facts if diagnosis else None
        way = None
        if runtime and self.only is None:
            way = choose_way(ctx, facts, self.module)
            self.report.way = way.why
            assert session.journal is not None
            session.journal.decision("way out of the run-time panic", way.why)
            self.say(way.why)
            if way.fix is not None and way.fix not in wanted:
                wanted.append(way.fix)
        applied_any = False
        for fix in dict.fromkeys(wanted):
            unasked = way is not None and fix == way.fix
            if fix not in asked and not unasked:
                self.say(f"Suggested, not applied unless asked (--fix {fix}): "
                         f"{OPT_IN_FIXES.get(fix, 'boot the previous kernel')}")
                continue
            module = self.module or (way.module if way else "") or (
                (facts.blamed_module or "") if facts else "")
            summary = (f"{diagnosis.title if diagnosis else 'Asked for'}"
                       + (f" in kernel {ctx.kernel}." if diagnosis else "."))
            if unasked and way is not None:
                summary += " " + way.why
            finding = Finding("diagnosis", False, diagnosis.class_id if diagnosis else "asked",
                              summary, data={"kernel": ctx.kernel, "module": module})
            plan = DIAGNOSIS_FIXES[fix](ctx, finding)
            if plan.blocked and unasked:
                self.say(f"Not possible: {plan.fix}: {plan.blocked}")
                continue
            self.report.found_problems = True
            applied = self._apply(session, plan, ctx)
            if applied is None or not applied.ok or self.dry_run:
                continue
            applied_any = True
            if fix == "previous-kernel":
                again = check_default_kernel(ctx, plan.data.get("kernel"))
            elif fix == "module-blacklist":
                again = verify_module_blacklist(ctx, plan.data["module"], plan.data["kernel"])
            elif fix == "serial-console":
                again = verify_serial_console(ctx)
            elif fix == "kdump-enable":
                again = verify_kdump(ctx)
            else:  # never "verified" by a constant: a fix with no check is said to be unchecked
                again = Finding(fix, False, "unchecked", "Nothing reads this fix's result back.")
            self._verified(session, plan, again)
        return applied_any

    @staticmethod
    def _key(finding: Finding) -> str:
        return f"{finding.check}:{finding.finding}"

    def _would_be_fixed(self, finding: Finding) -> bool:
        """In a dry run: a fix that would apply repairs this finding (its own, or one that
        changes the file the finding is about)."""
        if not self.dry_run:
            return False
        if self._key(finding) in self.would_fix:
            return True
        text = " ".join([finding.summary, *map(str, finding.data.values())])
        for path, fix in self.would_change.items():
            if path in text:
                self.say(f"Would be repaired by {fix} (it writes {path}): {finding.check}: "
                         f"{finding.summary}")
                self.would_fix.add(self._key(finding))
                return True
        return False

    def _apply(self, session: RescueSession, plan: FixPlan, ctx: TargetContext | None
               ) -> Applied | None:
        self.say(plan.describe())
        if self.only is not None and plan.fix not in self.only:
            self.report.refused.append(f"{plan.fix}: not among --fix {','.join(self.only)}")
            return None
        if plan.blocked:
            self.report.refused.append(f"{plan.fix}: {plan.blocked}")
            return None
        if not self.confirm(plan):
            self.report.refused.append(f"{plan.fix}: not confirmed" + (
                " (it risks data loss, which only a person at a terminal can accept)"
                if plan.second_confirmation else ""))
            return None
        assert session.journal is not None
        session.journal.decision(f"apply {plan.fix}?", "yes")
        if ctx is not None and not self.dry_run:
            session.make_writable()
        applied = apply_plan(plan, session.root, session.runner, session.journal,
                             on_line=lambda line: self.say(f"    {line}"))
        entry = {"fix": plan.fix, "ok": applied.ok, "verified": False,
                 "message": applied.message, "plan": plan.to_json()}
        if self.dry_run:
            entry["would_apply"] = True
            entry["message"] = "dry run: nothing ran, nothing was written"
            for path in [*plan.files, *(e.path for e in plan.edits)]:
                self.would_change.setdefault(path, plan.fix)
            self.say(f"Would apply {plan.fix} (dry run: nothing ran, nothing was verified).")
        self.report.applied.append(entry)
        if not applied.ok:
            self.say(f"Fix {plan.fix} failed: {applied.message}")
        return applied

    def _verified(self, session: RescueSession, plan: FixPlan, again: Finding) -> None:
        entry = self.report.applied[-1]
        entry["verified"] = again.ok
        entry["verification"] = again.to_json()
        self._record_check(session, again)
        self.say(f"Verify {plan.fix}: {'ok' if again.ok else 'NOT fixed'}: {again.summary}")
        self.stage("verified", plan=plan, finding=again)

    @staticmethod
    def _record_check(session: RescueSession, finding: Finding) -> None:
        assert session.journal is not None
        session.journal.append("check", **finding.to_json())
