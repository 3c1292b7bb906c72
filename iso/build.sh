#!/usr/bin/env bash
# Build the rescuetui live image: debootstrap + squashfs + grub-mkrescue.
#
# Why not live-build: it wraps the same steps in many more layers of configuration; a rescue
# image is a fixed package list, one tree, one squashfs and a GRUB that boots BIOS and UEFI,
# which these few steps say plainly. The tree is cached (like the practice system's), so a
# rebuild after a change to rescuetui takes a minute or two.
#
# Needs (Debian 12 host, root): debootstrap squashfs-tools xorriso grub-pc-bin
# grub-efi-amd64-bin mtools, and python3-venv for the wheels. Usage: iso/build.sh OUTPUT.iso
set -euo pipefail

OUT=${1:-rescuetui.iso}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
CACHE=${RESCUETUI_CACHE:-/var/cache/rescuetui}
# What the fixes run, and what a live system needs to boot and log in on its own.
PACKAGES=linux-image-amd64,live-boot,systemd-sysv,udev,kmod,util-linux,fdisk,gdisk,\
e2fsprogs,xfsprogs,btrfs-progs,dosfstools,mtools,lvm2,cryptsetup,mdadm,grub-pc-bin,\
grub-efi-amd64-bin,efibootmgr,rpm,python3,python3-venv,psmisc,procps,console-setup,kbd,\
less,nano,iproute2,ifupdown,isc-dhcp-client,ca-certificates,bubblewrap,libseccomp2,makedumpfile
KEY=$(echo "$PACKAGES" | sha256sum | cut -c1-8)
TREE_CACHE=$CACHE/live-tree-$KEY
WORK=$(mktemp -d /var/tmp/rescuetui-iso.XXXXXX)
trap 'umount -R "$WORK/tree/dev" "$WORK/tree/proc" "$WORK/tree/sys" 2>/dev/null || true; rm -rf "$WORK"' EXIT
step() { printf '[%4ss] %s\n' "$SECONDS" "$*"; }

if [ ! -f "$TREE_CACHE/etc/os-release" ]; then
    step "debootstrap bookworm (cached afterwards in $TREE_CACHE)"
    rm -rf "$TREE_CACHE.partial"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$TREE_CACHE.partial" \
        >/dev/null
    mv "$TREE_CACHE.partial" "$TREE_CACHE"
fi
step "copying the cached tree"
cp -a "$TREE_CACHE" "$WORK/tree"
T=$WORK/tree

step "building rescuetui and its dependencies as wheels on the host"
python3 -m venv "$WORK/wheelenv"
"$WORK/wheelenv/bin/pip" install -q --upgrade pip wheel
"$WORK/wheelenv/bin/pip" wheel -q -w "$T/tmp/wheels" "$REPO"

# A rescue system opens nothing by itself: no LVM autoactivation (a repair VM's twin volume
# group would come up on whichever disk appeared first), no md auto-assembly (it may start a
# resync). rescuetui opens what the operator chose. The initramfs
# (it carries lvm.conf and mdadm.conf and runs LVM's udev rules) is rebuilt with them below.
sed -i '/^activation {/a\	auto_activation_volume_list = []' "$T/etc/lvm/lvm.conf"
grep -q '^AUTO -all' "$T/etc/mdadm/mdadm.conf" || echo 'AUTO -all' >> "$T/etc/mdadm/mdadm.conf"

step "installing rescuetui into /opt/rescuetui (precompiled: the medium is read-only)"
mount --bind /dev "$T/dev"; mount -t proc proc "$T/proc"; mount -t sysfs sys "$T/sys"
chroot "$T" python3 -m venv /opt/rescuetui
chroot "$T" /opt/rescuetui/bin/pip install -q --no-index --find-links /tmp/wheels rescuetui
chroot "$T" /opt/rescuetui/bin/python -m compileall -q /opt/rescuetui
chroot "$T" update-initramfs -u -k all >/dev/null 2>&1
ln -sf /opt/rescuetui/bin/rescuetui "$T/usr/local/bin/rescuetui"
rm -rf "$T/tmp/wheels"
umount "$T/dev" "$T/proc" "$T/sys"

step "configuring autologin on tty1 and ttyS0, hostname, font"
echo rescuetui > "$T/etc/hostname"
for getty in getty@tty1 serial-getty@ttyS0; do
    mkdir -p "$T/etc/systemd/system/$getty.service.d"
    cp "$HERE/autologin.conf" "$T/etc/systemd/system/$getty.service.d/autologin.conf"
done
ln -sf /lib/systemd/system/serial-getty@.service \
    "$T/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
cp "$HERE/profile.sh" "$T/root/.bash_profile"
# The VGA font of the console holds every glyph rescuetui draws in its serial profile (CP437).
cp "$HERE/console-setup" "$T/etc/default/console-setup"
passwd -R "$T" -d root >/dev/null
chroot "$T" apt-get clean
rm -rf "$T/var/lib/apt/lists/"* "$T/usr/share/doc/"* "$T/usr/share/man/"* \
    "$T/usr/share/locale/"*

step "squashfs"
mkdir -p "$WORK/iso/live" "$WORK/iso/boot/grub"
cp "$T"/boot/vmlinuz-* "$WORK/iso/live/vmlinuz"
cp "$T"/boot/initrd.img-* "$WORK/iso/live/initrd.img"
mksquashfs "$T" "$WORK/iso/live/filesystem.squashfs" -comp xz -e boot -noappend -quiet \
    -processors "$(nproc)"
cp "$HERE/grub.cfg" "$WORK/iso/boot/grub/grub.cfg"

step "grub-mkrescue: one hybrid image for CD and USB, BIOS and UEFI"
grub-mkrescue -o "$OUT" "$WORK/iso" -- -volid RESCUETUI >/dev/null 2>&1
step "done: $OUT ($(du -m "$OUT" | cut -f1) MiB)"
