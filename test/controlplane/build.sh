#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-scheduler, kube-controller-manager, kwok and
# kubelet (for make e2e's real nodes) from the Go module proxy into a cache
# directory outside the repository, skips what is already there, and prints
# that directory (for KUBEBUILDER_ASSETS). With --promtool it builds only
# promtool there (for the chart's alert rule tests; make test).
#
# Usage: test/controlplane/build.sh            # build what is missing, print dir
#        test/controlplane/build.sh --print-dir # only print the dir
#        test/controlplane/build.sh --promtool  # build promtool if missing
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

k8s_minor=${KUBERNETES_VERSION#v1.}   # 37.2 -> staging modules are v0.37.2
staging_version="v0.${k8s_minor}"
cache_root=${PREPULLER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/prepuller}
bin_dir="$cache_root/k8s-${KUBERNETES_VERSION#v}"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$bin_dir"
  exit 0
fi

mkdir -p "$bin_dir"
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
log() { echo "controlplane: $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build_etcd() {
  [[ -x "$bin_dir/etcd" ]] && return 0
  log "building etcd $ETCD_VERSION"
  mkdir -p "$work/etcd" && cd "$work/etcd"
  cat > go.mod <<MOD
module prepuller.local/build/etcd

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
MOD
  go mod tidy >/dev/null 2>&1 || true
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go build -o "$bin_dir/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$bin_dir/etcd.tmp" "$bin_dir/etcd"
}

build_kube() {
  local missing=()
  for b in kube-apiserver kube-scheduler kube-controller-manager kubelet; do
    [[ -x "$bin_dir/$b" ]] || missing+=("k8s.io/kubernetes/cmd/$b")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "building ${missing[*]} $KUBERNETES_VERSION (several minutes on 2 cores, then cached)"
  mkdir -p "$work/kube" && cd "$work/kube"
  go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" > dl.json
  local upstream_mod
  upstream_mod=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' dl.json)
  {
    echo "module prepuller.local/build/kube"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    # Kubernetes' own go.mod points its staging modules at ./staging; point
    # each at the published module of the same release instead.
    grep -E '=> \./staging/' "$upstream_mod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > go.mod
  go mod tidy >&2
  local tmp="$bin_dir/.tmp"
  mkdir -p "$tmp"
  # The version stamp: without it kubelet reports v0.0.0-master in
  # node.status.nodeInfo (and the API server in /version).
  local v=k8s.io/component-base/version
  local minor=${k8s_minor%%.*}
  go build -ldflags "-X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor" \
    -o "$tmp/" "${missing[@]}"
  mv "$tmp"/* "$bin_dir/" && rmdir "$tmp"
}

build_kwok() {
  [[ -x "$bin_dir/kwok" ]] && return 0
  log "building kwok $KWOK_VERSION"
  GOBIN="$bin_dir" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

# promtool is not a control-plane binary, but the chart's alert rules are
# tested with it (test/integration/install) and it belongs in the same
# cache. Its module has no replace directives, so go install takes it as is.
# remove_all_sd leaves out the service discovery plugins (cloud SDKs), which
# rule tests never use: less than half the code to compile. The version is
# stamped beside the binary, so a new PROMETHEUS_VERSION rebuilds it.
build_promtool() {
  local stamp="$bin_dir/promtool.version"
  [[ -x "$bin_dir/promtool" && "$(cat "$stamp" 2>/dev/null)" == "$PROMETHEUS_VERSION" ]] && return 0
  log "building promtool $PROMETHEUS_VERSION (about 9 minutes on two cores, then cached)"
  GOBIN="$bin_dir" go install -tags remove_all_sd "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
  echo "$PROMETHEUS_VERSION" >"$stamp"
}

# kwok refuses to start without stage configs. Its default ones ship in its
# module as YAML; join the node and pod stages into one file for -c.
kwok_stages() {
  [[ -s "$bin_dir/kwok-stages.yaml" ]] && return 0
  local dir
  dir=$(cd "$work" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  local stage="$dir/kustomize/stage"
  {
    for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo "---"
      cat "$stage/$f"
    done
  } > "$bin_dir/kwok-stages.yaml.tmp"
  mv "$bin_dir/kwok-stages.yaml.tmp" "$bin_dir/kwok-stages.yaml"
}

if [[ "${1:-}" == "--promtool" ]]; then
  build_promtool
  exit 0
fi

build_etcd
build_kube
build_kwok
kwok_stages
echo "$bin_dir"
