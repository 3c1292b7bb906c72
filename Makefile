# rescuetui — set-up, practice run, tests and benchmarks. Run as root on Debian 12.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# What rescuetui and its tests need on the host: libblkid headers and a compiler for
# pylibblkid, the filesystem and volume tools it drives (mtools reads and writes the ESP without
# mounting it), debootstrap for the practice system, qemu with SeaBIOS and OVMF to boot it, and
# GRUB's EFI image for the tests of EFI executables.
APT_PACKAGES := makedumpfile python3 python3-venv python3-dev gcc pkg-config libblkid-dev \
	util-linux mount fdisk e2fsprogs xfsprogs dosfstools mtools btrfs-progs \
	cryptsetup-bin lvm2 mdadm kmod psmisc debootstrap tmux whiptail bubblewrap libseccomp2 \
	qemu-system-x86 qemu-utils ovmf grub-efi-amd64-bin rpm \
	cpio lz4 zstd lzop libarchive-tools systemd-journal-remote
# What the live image build needs on top (make iso).
ISO_PACKAGES := debootstrap squashfs-tools xorriso grub-pc-bin grub-efi-amd64-bin mtools ovmf
ISO ?= /var/tmp/rescuetui.iso

.PHONY: setup system-packages demo test lint bench e2e iso iso-boot iso-e2e iso-xfslvm-e2e iso-raid-e2e clean

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing: $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --config-settings editable_mode=compat -e '.[test]'
	$(BIN)/python -m compileall -q rescuetui
	touch $@

# The guided TUI on a practice system that really does not boot (initramfs deleted), with hints.
demo: setup
	$(BIN)/rescuetui --practice initramfs-deleted

test: setup lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check rescuetui tests bench
	$(BIN)/mypy rescuetui

# Every practice scenario built, booted under qemu, repaired and booted again, and the tests
# that boot a whole system to its end (login, a kdump capture, a journal, the previous kernel);
# slow: about 50 minutes on 2 cores.
e2e: setup
	$(BIN)/pytest -m 'boot or long'
	$(BIN)/rescuetui lab verify

# The live image: BIOS and UEFI, CD and USB (iso/build.sh says how and why).
iso: setup
	@missing=$$(for p in $(ISO_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
	fi
	bash iso/build.sh $(ISO)

# Boot the live image from CD and USB on BIOS and UEFI, to rescuetui's first screen on the
# serial console each time (about 4 boots of a minute or two under TCG).
iso-boot: setup
	test -f $(ISO) || $(MAKE) iso
	$(BIN)/python iso/boot_matrix.py $(ISO)

# Boot the live image with a broken practice disk, repair it over the serial console, then
# boot the practice disk alone; then the repair-VM case with LVM: a disk and its copy, the copy
# imported under a temporary name and put back (minutes under TCG).
iso-e2e: setup
	test -f $(ISO) || $(MAKE) iso
	$(BIN)/python iso/e2e.py $(ISO)
	$(BIN)/python iso/lvm_copy_e2e.py $(ISO)

# XFS root on LVM (the cloud's RHEL shape), repaired unattended in the live image: a missing
# initramfs, the same as a repair VM whose own volume group is also rootvg, an initramfs without
# the lvm tool (its boot waits minutes before dracut gives up), a dirty log with a cut
# initramfs (a power cut during an update: the log is replayed by a mount), and a root whose
# crashed log cannot be replayed (xfs_repair -L: this run types the YES an operator must type).
iso-raid-e2e: setup
	test -f $(ISO) || $(MAKE) iso
	$(BIN)/python iso/raid_e2e.py $(ISO)

iso-xfslvm-e2e: setup
	test -f $(ISO) || $(MAKE) iso
	$(BIN)/python iso/xfslvm_e2e.py $(ISO) xfs-lvm-initramfs-deleted
	$(BIN)/python iso/xfslvm_e2e.py $(ISO) xfs-lvm-initramfs-deleted --repair-vm
	$(BIN)/python iso/xfslvm_e2e.py $(ISO) xfs-lvm-initramfs-no-lvm
	$(BIN)/python iso/xfslvm_e2e.py $(ISO) xfs-lvm-dirty-log
	$(BIN)/python iso/xfslvm_e2e.py $(ISO) xfs-lvm-log-lost --type-yes

bench: setup
	$(BIN)/python bench/mount_chroot.py
	$(BIN)/python bench/diagnose_throughput.py
	$(BIN)/python bench/repair_initramfs.py
	$(BIN)/python bench/serial_bytes.py
	$(BIN)/python bench/tui_first_screen.py

clean:
	$(BIN)/rescuetui cleanup || true
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
