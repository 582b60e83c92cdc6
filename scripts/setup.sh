#!/usr/bin/env bash
# Installs what tsbox needs on a fresh Debian machine (as root) and builds it:
# the C compiler and static libc for tsbox-init, busybox-static for test roots,
# iproute2 and nftables for networking and its cross-checks, docker-registry, apache2-utils
# and openssl for the registry tests, pnpm, the workspace's packages, then `pnpm build`.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "tsbox needs root (namespaces, mounts, cgroups): run this as root" >&2
  exit 1
fi

missing=()
command -v cc >/dev/null || missing+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || missing+=(libc6-dev)
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || missing+=(busybox-static)
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
command -v nft >/dev/null || missing+=(nftables)
# Registry tests: a private docker-registry, htpasswd -B for its basic auth, openssl for
# the token-auth certificate.
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
  }
fi

if ! command -v pnpm >/dev/null || [ "$(pnpm --version | cut -d. -f1)" != 10 ]; then
  npm install -g pnpm@10 >/dev/null
fi

pnpm install --frozen-lockfile --reporter=silent
pnpm build
