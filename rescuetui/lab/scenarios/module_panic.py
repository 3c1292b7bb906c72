"""A third-party kernel module (out of tree, unsigned) oopses in its init at every boot, and
the kernel command line has oops=panic: the boot ends in a kernel panic. The system has one
kernel, so booting the previous one is no way out."""

from __future__ import annotations

from rescuetui.core.session import RescueSession
from rescuetui.core.target import TargetSystem
from rescuetui.lab.faulty_module import (
    LOAD_CONF,
    NAME,
    install_module,
    list_in_initramfs,
    panic_on_oops,
)
from rescuetui.lab.scenario import Scenario, default_kernel


def break_system(session: RescueSession, target: TargetSystem) -> str:
    kernel = default_kernel(target)
    return "; ".join((install_module(session, kernel), list_in_initramfs(session, kernel),
                      panic_on_oops(session)))


SCENARIO = Scenario(
    name="module-panic",
    title=f"A third-party module ({NAME}) oopses at boot, with oops=panic",
    symptom="The VM does not boot. The kernel starts, then 'BUG: kernel NULL pointer "
    "dereference', an Oops with a call trace, and 'Kernel panic - not syncing: Fatal "
    "exception'. It happens at every boot.",
    expected_outcome="panic",
    expected_class="oops",
    expected_fix="module-blacklist",
    hints=(
        "Read the Oops: the RIP line names the faulting function and, in brackets, its module; "
        "'Modules linked in:' lists it with its taint flags.",
        "Tainted: O means an out-of-tree module is loaded, E an unsigned one: a driver that is "
        "not the kernel's own. Where does it live (/lib/modules/VER/updates/) and who loads it "
        f"({LOAD_CONF}, /etc/initramfs-tools/modules)?",
        "There is no previous kernel. Keep the module from loading: a blacklist and "
        f"'install {NAME} /bin/false' in /etc/modprobe.d, out of /etc/initramfs-tools/modules, "
        "then rebuild the initramfs and check with lsinitramfs that it is gone. Never blacklist "
        "the kernel's own disk or filesystem drivers.",
    ),
    break_mounted=break_system,
)
