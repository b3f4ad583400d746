#!/usr/bin/env bash
# make e2e's host needs: root, and Debian's containerd, runc and CNI
# plugins. Installs the packages with apt-get when one is missing.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
  echo "e2e: real nodes need root (cgroups, mounts, a bridge)" >&2
  exit 1
fi
missing=()
command -v containerd >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
command -v ip >/dev/null || missing+=(iproute2)
for tool in unshare mount; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool not found (util-linux, mount)" >&2; exit 1; }
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "e2e: installing ${missing[*]} with apt-get" >&2
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
