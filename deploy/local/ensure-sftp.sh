#!/usr/bin/env bash
# Make sure OpenSSH's server binary (sshd, with its sftp-server) is installed: the files adapter's
# tests run a private sshd of their own (own host key, config and free port, in a temp dir; never
# the system's service or port 22). Installs Debian's openssh-server with apt-get when root;
# otherwise says in one line what to do. Never starts or enables the system service.
set -euo pipefail

say() { echo "sftp: $*"; }

found() {
  for dir in /usr/sbin /usr/local/sbin /usr/lib/openssh; do
    [[ -x "$dir/sshd" ]] && return 0
  done
  command -v sshd >/dev/null
}

privsep() {  # sshd refuses to start without its privilege separation directory
  [[ -d /run/sshd ]] || { [[ $(id -u) -eq 0 ]] && mkdir -p -m 0755 /run/sshd; } || true
}

if found; then
  privsep
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "sftp: ERROR: OpenSSH's server is not installed: run 'sudo apt-get install openssh-server'" >&2
  exit 1
fi
say "installing openssh-server with apt-get (the service is not started)"
if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
fi
# policy-rc.d 101: Debian's maintainer scripts must not start the system sshd on port 22
policy=/usr/sbin/policy-rc.d
created=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
fi
trap '[[ $created -eq 1 ]] && rm -f "$policy"' EXIT
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends openssh-server openssh-sftp-server >/dev/null
found || { echo "sftp: ERROR: sshd still not found after installing openssh-server" >&2; exit 1; }
privsep
