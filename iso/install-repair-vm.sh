#!/usr/bin/env bash
# Install rescuetui on a stock cloud repair VM (Debian/Ubuntu or RHEL-family), as root:
#   bash iso/install-repair-vm.sh            (from a checkout of this repository)
# It installs the tools the fixes drive and a Python environment in /opt/rescuetui, and links
# /usr/local/bin/rescuetui. Then attach the copy of the broken OS disk and run `rescuetui`: the
# repair VM's own disks are never offered; a disk that is a copy of the VM's own image (same
# XFS UUID) is mounted with nouuid, and a copy of its LVM volume group is imported under a
# temporary name and put back afterwards.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
# rescuetui needs Python 3.11 or newer: Debian 12 and Ubuntu 24.04 have it as python3; Ubuntu
# 22.04 has it as python3.11 (universe), RHEL/Alma/Rocky 8.8+ and 9.2+ as python3.11 (AppStream).
newest_python() {
    for py in python3.13 python3.12 python3.11 python3; do
        if command -v "$py" >/dev/null &&
            "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    return 1
}
if command -v apt-get >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python3 python3-venv python3-dev gcc pkg-config libblkid-dev util-linux fdisk \
        e2fsprogs xfsprogs dosfstools btrfs-progs cryptsetup-bin lvm2 mdadm kmod psmisc \
        bubblewrap libseccomp2
    if ! newest_python >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            python3.11 python3.11-venv python3.11-dev
    fi
elif command -v dnf >/dev/null; then
    dnf install -y python3 gcc pkgconf-pkg-config libblkid-devel util-linux \
        e2fsprogs xfsprogs dosfstools cryptsetup lvm2 mdadm kmod psmisc bubblewrap libseccomp
    newest_python >/dev/null || dnf install -y python3.11 python3.11-devel
else
    echo "install-repair-vm: neither apt-get nor dnf found; install python3 (3.11+), a C" \
         "compiler and the libblkid headers by hand, then: python3 -m venv /opt/rescuetui &&" \
         "/opt/rescuetui/bin/pip install $HERE" >&2
    exit 1
fi
PYTHON=$(newest_python) || {
    echo "install-repair-vm: no Python 3.11 or newer could be installed; rescuetui needs it" >&2
    exit 1
}
"$PYTHON" -m venv /opt/rescuetui
/opt/rescuetui/bin/pip install -q --upgrade pip
/opt/rescuetui/bin/pip install -q "$HERE"
/opt/rescuetui/bin/python -m compileall -q /opt/rescuetui
ln -sf /opt/rescuetui/bin/rescuetui /usr/local/bin/rescuetui
echo "rescuetui installed: run \`rescuetui\` (the guided TUI) or \`rescuetui scan\`."
