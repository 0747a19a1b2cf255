#!/usr/bin/env bash
# Make sure the training sandbox's tools are installed: bwrap (Debian: bubblewrap) and
# prlimit/setpriv (Debian: util-linux, normally present). Installs with apt when missing.
set -euo pipefail

missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
{ command -v prlimit >/dev/null && command -v setpriv >/dev/null; } || missing+=(util-linux)
command -v pgrep >/dev/null || missing+=(procps)

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "install-sandbox: missing ${missing[*]} and no apt-get; install them by hand" >&2
    exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-sandbox: missing ${missing[*]}: run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "install-sandbox: $(bwrap --version) ready"
