#!/usr/bin/env bash
# Prepares a Debian 12 host to run the harness's Vagrant targets with the
# libvirt provider under QEMU software emulation (TCG). Idempotent and quiet;
# fast when everything is already in place. Called by scripts/setup.sh.
#
#   1. Debian packages: vagrant, vagrant-libvirt, libvirt daemon + QEMU driver +
#      clients, qemu-system-x86, qemu-utils, and what vagrant/build-box.sh needs
#      (mmdebstrap, e2fsprogs, fdisk, openssh-client). For targets with provider
#      networking (vagrant-libvirt's management network: a libvirt NAT network
#      with DHCP, how stock boxes such as debian/bookworm64 boot on a CI runner)
#      also what libvirt's network driver runs to start that network: dnsmasq
#      (dnsmasq-base: the program only, no service) for DHCP and DNS, and
#      iptables for the NAT rules (libvirt 9.0's firewall backend; without it
#      "Failed to initialize a valid firewall backend"). Debian's
#      libvirt-daemon-system would bring both (Depends: iptables | firewalld,
#      Recommends: dnsmasq-base) but is not installed (see 2.); nothing here
#      starts that network: only a `vagrant up` of such a target does.
#   2. /etc/libvirt/qemu.conf: QEMU runs as root with no security driver, no
#      cgroup controllers and no namespaces. With the stock settings every
#      `vagrant up` stalls ~130 s on a host without systemd. The file is
#      created if missing (it belongs to libvirt-daemon-system, deliberately
#      not installed: it defines a default NAT network, i.e. a host bridge).
#
# The daemons (virtlogd, libvirtd) are started by vagrant/host-daemons.sh, not
# here: this host has no systemd, and package installation starts no service
# (scripts/apt-install.sh refuses it while apt runs).
set -euo pipefail

say() { echo "setup-host: $*"; }
die() { echo "setup-host: ERROR: $*" >&2; exit 1; }

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "must run as root (or have sudo)"
    sudo_cmd="sudo"
fi

packages=(
    vagrant vagrant-libvirt
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    qemu-system-x86 qemu-utils
    mmdebstrap e2fsprogs fdisk util-linux openssh-client tar
    dnsmasq-base iptables
)

bash "$(dirname "$0")/../scripts/apt-install.sh" --no-recommends "${packages[@]}"

# --- /etc/libvirt/qemu.conf ---------------------------------------------------
conf=/etc/libvirt/qemu.conf
begin="# BEGIN harness: vagrant setup-host.sh"
end="# END harness"
block="$begin
# QEMU as root, no security driver, no cgroups, no namespaces: without these a
# host lacking systemd makes every domain start stall ~130 s.
user = \"root\"
group = \"root\"
security_driver = \"none\"
cgroup_controllers = [ ]
namespaces = [ ]
$end"

# Debian ships qemu.conf in libvirt-daemon-system, which is not installed: it
# would bring a default NAT network (a bridge on the host) and service units.
# libvirt uses built-in defaults for every key the file does not set.
if [ ! -f "$conf" ]; then
    $sudo_cmd mkdir -p "$(dirname "$conf")"
    echo "# libvirt QEMU driver settings (see vagrant/setup-host.sh)" | $sudo_cmd tee "$conf" >/dev/null
fi
current=$(sed -n "/^$begin\$/,/^$end\$/p" "$conf")
# Our keys must not also be set (uncommented) outside our block.
others=$(sed "/^$begin\$/,/^$end\$/d" "$conf" \
         | grep -E '^[[:space:]]*(user|group|security_driver|cgroup_controllers|namespaces)[[:space:]]*=' || true)
if [ "$current" != "$block" ] || [ -n "$others" ]; then
    say "configuring $conf"
    tmp=$(mktemp)
    sed -e "/^$begin\$/,/^$end\$/d" \
        -e 's/^\([[:space:]]*\(user\|group\|security_driver\|cgroup_controllers\|namespaces\)[[:space:]]*=\)/#harness# \1/' \
        "$conf" >"$tmp"
    printf '%s\n' "$block" >>"$tmp"
    $sudo_cmd cp "$tmp" "$conf"
    rm -f "$tmp"
    if [ -f /run/harness/libvirtd.pid ] && kill -0 "$(cat /run/harness/libvirtd.pid)" 2>/dev/null; then
        say "note: libvirtd is running; restart it (vagrant/host-daemons.sh stop && start) to apply"
    fi
fi

# libvirt's QEMU driver resolves its built-in user and group (libvirt-qemu)
# at start-up even when qemu.conf overrides them; libvirt-daemon-system would
# create them.
if ! getent group libvirt-qemu >/dev/null; then
    $sudo_cmd groupadd --system libvirt-qemu
fi
if ! getent passwd libvirt-qemu >/dev/null; then
    say "creating system user libvirt-qemu"
    $sudo_cmd useradd --system --gid libvirt-qemu --home-dir /var/lib/libvirt --no-create-home \
        --shell /usr/sbin/nologin --comment "Libvirt Qemu" libvirt-qemu
fi

# Directories libvirt's qemu driver and the default storage pool use.
for d in /var/lib/libvirt/images /var/lib/libvirt/qemu /var/log/libvirt/qemu /var/cache/libvirt; do
    [ -d "$d" ] || $sudo_cmd mkdir -p "$d"
done

exit 0
