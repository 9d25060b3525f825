#!/usr/bin/env bash
# Builds the Vagrant box harness/debian12 (libvirt provider) from Debian
# packages, without Vagrant Cloud, and adds it to Vagrant.
#
#   Debian 12, kernel 6.1 (linux-image-amd64), python3, openssh-server (+sftp),
#   sudo, iproute2, qemu-guest-agent, systemd-networkd (DHCP on every NIC);
#   user vagrant (password "vagrant") with Vagrant's insecure public key (from
#   Debian's vagrant package) and passwordless sudo; GRUB on the MBR; serial
#   console on ttyS0. The disk is a 4 GiB (virtual) compressed qcow2.
#   The SSH host keys are generated once, at build time: every VM from this box
#   shares them (test VMs reached only on 127.0.0.1).
#
# How: mmdebstrap into a directory; mke2fs -d copies it into an ext4 partition
# of a raw disk image (no loop device, no mount); the kernel from that tree is
# booted once under QEMU (TCG) with init= a one-shot script that runs
# grub-install and update-grub inside the guest, then powers off; qemu-img
# converts the disk to compressed qcow2; box = tar of box.img, metadata.json,
# Vagrantfile and harness-build.txt (the hash of this script).
#
# Cache: ${HARNESS_CACHE:-$HOME/.cache/harness}/boxes/debian12-libvirt.box and
# .sha256 next to it (the hash of this script). Rebuilt only when either is
# missing or this script changed (or --force). `vagrant box add` runs only when
# `vagrant box list` lacks the box or the added box came from another build.
#
# Environment:
#   HARNESS_CACHE                  cache root (default ~/.cache/harness)
#   VAGRANT_HOME                   default $HARNESS_CACHE/vagrant.d
#   HARNESS_DEBIAN_MIRROR          default http://deb.debian.org/debian
#   HARNESS_DEBIAN_SECURITY_MIRROR default http://deb.debian.org/debian-security
#   TMPDIR                         build directory parent (default /var/tmp);
#                                  needs ~2 GB
# Usage: vagrant/build-box.sh [--force] [--no-add]
set -euo pipefail

box_name=harness/debian12
script_path=$(readlink -f "$0")
cache=${HARNESS_CACHE:-$HOME/.cache/harness}
export VAGRANT_HOME=${VAGRANT_HOME:-$cache/vagrant.d}
export VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_BOX_UPDATE_CHECK_DISABLE=1
box_dir=$cache/boxes
box_file=$box_dir/debian12-libvirt.box
hash_file=$box_file.sha256
mirror=${HARNESS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${HARNESS_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
disk_gib=4

force=0
add=1
for a in "$@"; do
    case "$a" in
        --force) force=1 ;;
        --no-add) add=0 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--force] [--no-add]" >&2; exit 2 ;;
    esac
done

t_start=$SECONDS
say() { printf 'build-box: [%4ds] %s\n' $((SECONDS - t_start)) "$*"; }
die() { printf 'build-box: [%4ds] ERROR: %s\n' $((SECONDS - t_start)) "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap root mode, QEMU)"
for tool in mmdebstrap mke2fs sfdisk qemu-system-x86_64 qemu-img vagrant tar sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found: run vagrant/setup-host.sh"
done

script_hash=$(sha256sum "$script_path" | cut -d' ' -f1)

# --- cleanup on any exit ------------------------------------------------------
tmp=""
qemu_pid=""
cleanup() {
    local rc=$?
    set +e
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill "$qemu_pid" 2>/dev/null; sleep 1; kill -9 "$qemu_pid" 2>/dev/null
    fi
    if [ -n "$tmp" ] && [ -d "$tmp" ]; then
        # mmdebstrap mounts /proc, /sys, /dev... inside the tree while it runs:
        # unmount anything left below $tmp (deepest first) before deleting.
        local m
        for m in $(awk -v p="$tmp/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r); do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
        done
        if awk -v p="$tmp/" 'index($2, p) == 1 {found=1} END {exit !found}' /proc/mounts; then
            echo "build-box: WARNING: mounts remain below $tmp; not deleting it" >&2
        else
            rm -rf --one-file-system "$tmp"
        fi
    fi
    [ "$rc" -ne 0 ] && echo "build-box: FAILED (exit $rc) after $((SECONDS - t_start)) s" >&2
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build --------------------------------------------------------------------
build_box() {
    mkdir -p "$box_dir"
    tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/harness-box.XXXXXX")
    local root=$tmp/root disk=$tmp/disk.raw out=$tmp/box
    local pub t
    pub=$(dpkg -L vagrant 2>/dev/null | grep '/keys/vagrant\.pub$' | head -n1)
    [ -n "$pub" ] && [ -s "$pub" ] || die "Vagrant's insecure public key not found in Debian's vagrant package"

    say "mmdebstrap bookworm (minbase + kernel, ssh, python3, sudo, qemu-guest-agent) from $mirror"
    t=$SECONDS
    local pkgs=linux-image-amd64,systemd-sysv,udev,dbus,openssh-server,openssh-sftp-server,python3,sudo,iproute2,qemu-guest-agent,grub-pc-bin,grub2-common,procps
    if ! mmdebstrap --quiet --variant=minbase --include="$pkgs" \
            --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
            bookworm "$root" \
            "deb $mirror bookworm main" \
            "deb $mirror bookworm-updates main" \
            "deb $security_mirror bookworm-security main" >"$tmp/mmdebstrap.log" 2>&1; then
        tail -n 30 "$tmp/mmdebstrap.log" >&2
        die "mmdebstrap failed (mirrors: $mirror, $security_mirror; log above)"
    fi
    say "  rootfs ready in $((SECONDS - t)) s ($(du -sm "$root" | cut -f1) MB)"

    say "configuring the guest"
    local kver
    kver=$(ls "$root"/lib/modules | sort -V | tail -n1)
    [ -n "$kver" ] || die "no kernel installed in the rootfs"
    echo debian12 >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian12\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    echo 'LABEL=root / ext4 errors=remount-ro 0 1' >"$root/etc/fstab"
    # DHCP on every NIC (QEMU user networking supplies it).
    cat >"$root/etc/systemd/network/50-dhcp.network" <<'EOF'
[Match]
Name=e*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
    chroot "$root" systemctl enable --quiet systemd-networkd.service
    chroot "$root" systemctl mask --quiet systemd-networkd-wait-online.service \
        apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
        2>/dev/null || true
    # vagrant user: insecure key, passwordless sudo.
    chroot "$root" useradd --create-home --shell /bin/bash --user-group vagrant
    echo 'vagrant:vagrant' | chroot "$root" chpasswd
    install -d -m 700 -o "$(stat -c %u "$root/home/vagrant")" -g "$(stat -c %g "$root/home/vagrant")" "$root/home/vagrant/.ssh"
    install -m 600 -o "$(stat -c %u "$root/home/vagrant")" -g "$(stat -c %g "$root/home/vagrant")" "$pub" "$root/home/vagrant/.ssh/authorized_keys"
    echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
    chmod 440 "$root/etc/sudoers.d/vagrant"
    printf 'UseDNS no\nGSSAPIAuthentication no\n' >"$root/etc/ssh/sshd_config.d/vagrant.conf"
    # GRUB: no menu delay, serial + VGA console, eth0/eth1 names.
    cat >"$root/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_TIMEOUT_STYLE=hidden
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 net.ifnames=0 biosdevname=0"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF
    # One-shot init for the GRUB boot below; it deletes itself.
    cat >"$root/usr/local/sbin/harness-install-grub" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -o remount,rw /
if grub-install --target=i386-pc /dev/vda && update-grub; then
    echo HARNESS-GRUB-OK
else
    echo HARNESS-GRUB-FAILED
fi
rm -f /usr/local/sbin/harness-install-grub
rm -rf /boot/grub/grubenv.tmp /tmp/* 2>/dev/null
sync
mount -o remount,ro / 2>/dev/null
sync
echo o >/proc/sysrq-trigger
EOF
    chmod 755 "$root/usr/local/sbin/harness-install-grub"
    printf 'harness/debian12 built %s by vagrant/build-box.sh\nscript-sha256 %s\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$script_hash" >"$root/etc/harness-box"

    say "creating the ${disk_gib} GiB disk (ext4 from the tree with mke2fs -d)"
    t=$SECONDS
    truncate -s "${disk_gib}G" "$disk"
    echo 'start=2048, type=83, bootable' | sfdisk --quiet "$disk" >/dev/null
    # GRUB 2.06 (bookworm) reads neither metadata_csum_seed nor orphan_file.
    mke2fs -q -t ext4 -L root -O ^metadata_csum_seed,^orphan_file -E offset=$((2048 * 512)) \
        -d "$root" "$disk" $(( disk_gib * 1024 - 1 ))M \
        || die "mke2fs -d failed"
    say "  disk ready in $((SECONDS - t)) s"

    say "booting the kernel once (QEMU TCG) to install GRUB inside the guest"
    t=$SECONDS
    qemu-system-x86_64 -accel tcg -cpu qemu64 -m 1024 -smp 1 \
        -display none -monitor none -serial "file:$tmp/serial.log" -no-reboot -nic none \
        -drive "file=$disk,format=raw,if=virtio" \
        -kernel "$root/boot/vmlinuz-$kver" -initrd "$root/boot/initrd.img-$kver" \
        -append "root=/dev/vda1 rw console=ttyS0 panic=-1 init=/usr/local/sbin/harness-install-grub" \
        >"$tmp/qemu.log" 2>&1 &
    qemu_pid=$!
    local waited=0
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if [ "$waited" -ge 600 ]; then
            tail -n 20 "$tmp/serial.log" >&2
            die "the GRUB boot did not finish in 600 s (serial log above)"
        fi
        sleep 1; waited=$((waited + 1))
    done
    wait "$qemu_pid" || true
    qemu_pid=""
    if ! grep -q HARNESS-GRUB-OK "$tmp/serial.log"; then
        tail -n 30 "$tmp/serial.log" >&2
        cat "$tmp/qemu.log" >&2
        die "grub-install inside the guest failed (serial log above)"
    fi
    say "  GRUB installed in $((SECONDS - t)) s"

    say "converting to compressed qcow2"
    t=$SECONDS
    mkdir -p "$out"
    qemu-img convert -c -O qcow2 "$disk" "$out/box.img" || die "qemu-img convert failed"
    rm -f "$disk"
    say "  box.img: $(du -m "$out/box.img" | cut -f1) MB in $((SECONDS - t)) s"

    printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' "$disk_gib" >"$out/metadata.json"
    cat >"$out/Vagrantfile" <<'EOF'
# harness/debian12: built by harness's vagrant/build-box.sh from Debian packages.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.disk_bus = "virtio"
  end
end
EOF
    cp "$root/etc/harness-box" "$out/harness-build.txt"
    tar -C "$out" -cf "$box_file.part" metadata.json Vagrantfile harness-build.txt box.img
    mv "$box_file.part" "$box_file"
    echo "$script_hash" >"$hash_file"
    say "box written: $box_file ($(du -m "$box_file" | cut -f1) MB)"
}

if [ "$force" = 1 ] || [ ! -s "$box_file" ] || [ ! -s "$hash_file" ] \
        || [ "$(cat "$hash_file")" != "$script_hash" ]; then
    say "building $box_name (cache: $box_file)"
    build_box
else
    say "cached box up to date: $box_file"
fi

[ "$add" = 1 ] || { say "done (box not added: --no-add)"; exit 0; }

# --- vagrant box add ----------------------------------------------------------
mkdir -p "$VAGRANT_HOME"
box_id=$(tar --occurrence=1 -xOf "$box_file" harness-build.txt | sed -n 's/^script-sha256 //p')
added_build=$VAGRANT_HOME/boxes/${box_name//\//-VAGRANTSLASH-}/0/libvirt/harness-build.txt
listed=0
box_list=$(vagrant box list --machine-readable 2>/dev/null || true)
grep -q ",box-name,$box_name\$" <<<"$box_list" && listed=1
if [ "$listed" = 1 ] && [ -f "$added_build" ] && grep -qx "script-sha256 $box_id" "$added_build"; then
    say "vagrant already has $box_name (VAGRANT_HOME=$VAGRANT_HOME)"
else
    say "vagrant box add $box_name (VAGRANT_HOME=$VAGRANT_HOME)"
    t=$SECONDS
    if ! vagrant box add --force --name "$box_name" --provider libvirt "$box_file" >"${TMPDIR:-/tmp}/harness-box-add.$$.log" 2>&1; then
        cat "${TMPDIR:-/tmp}/harness-box-add.$$.log" >&2
        rm -f "${TMPDIR:-/tmp}/harness-box-add.$$.log"
        die "vagrant box add failed"
    fi
    rm -f "${TMPDIR:-/tmp}/harness-box-add.$$.log"
    say "  added in $((SECONDS - t)) s"
    # vagrant-libvirt uploads the box image into the libvirt pool on first `up`
    # under a name carrying the box file's mtime, so a re-added box gets a new
    # volume; remove older ones that no volume uses as its backing file.
    if timeout 10 virsh -c qemu:///system version >/dev/null 2>&1; then
        pool_dir=$(virsh -c qemu:///system pool-dumpxml default 2>/dev/null | sed -n 's:.*<path>\(.*\)</path>.*:\1:p' | head -n1)
        if [ -n "$pool_dir" ] && [ -d "$pool_dir" ]; then
            prefix="${box_name//\//-VAGRANTSLASH-}_vagrant_box_image_"
            for vol in "$pool_dir/$prefix"*; do
                [ -e "$vol" ] || continue
                in_use=0
                for other in "$pool_dir"/*; do
                    [ "$other" = "$vol" ] && continue
                    info=$(qemu-img info -U --output=json "$other" 2>/dev/null || true)
                    grep -qF "\"backing-filename\": \"$vol\"" <<<"$info" && { in_use=1; break; }
                done
                if [ "$in_use" = 0 ]; then
                    virsh -c qemu:///system vol-delete --pool default "$(basename "$vol")" >/dev/null 2>&1 \
                        && say "  removed old libvirt volume $(basename "$vol")"
                fi
            done
        fi
    fi
fi
say "done in $((SECONDS - t_start)) s"
