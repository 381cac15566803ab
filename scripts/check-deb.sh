#!/usr/bin/env bash
# Builds the edge-agent .deb from an existing native build tree, installs it on this machine and
# checks it:
#
#   scripts/check-deb.sh [BUILD_DIR] [--keep]      (BUILD_DIR default: build)
#
#  1. cmake --build BUILD_DIR --target edge-agent; cpack -G DEB (cmake/Packaging.cmake)
#  2. contents: /usr/bin/edge-agent, conffile /etc/edgesync/edge-agent.yaml, the systemd unit,
#     maintainer scripts; Depends from dpkg-shlibdeps
#  3. dpkg -i (apt-get -f install when dependencies are missing)
#  4. postinst effects: user edgesync, /var/lib/edgesync, /etc/edgesync/secrets
#  5. edge-agent --version; edge-agent check-config /etc/edgesync/edge-agent.yaml (as root and as
#     user edgesync)
#  6. systemd-analyze verify + security --offline of the installed unit (installs the systemd
#     package when missing; works without systemd as PID 1: verify only loads and checks files)
#  7. reinstall (upgrade path) keeps a locally edited conffile
#  8. dpkg --purge (prerm/postrm) unless --keep
# Last line: "[deb] OK in Ns (<package file>)" or "[deb] FAIL (step) in Ns".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR=build; KEEP=0
for a in "$@"; do
  case "$a" in --keep) KEEP=1 ;; -*) echo "unknown option $a" >&2; exit 2 ;; *) BUILD_DIR=$a ;; esac
done
[[ $BUILD_DIR = /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
T0=$(date +%s); STEP=init; DEB=""
. "$ROOT/scripts/lib.sh"  # log
es_log_name deb
CLEANUP=""
finish() {
  local rc=$?
  [[ -n $CLEANUP ]] && rm -rf "$CLEANUP"
  if ((rc == 0)); then log "OK in $(( $(date +%s) - T0 ))s (${DEB#$ROOT/})"
  else log "FAIL ($STEP) in $(( $(date +%s) - T0 ))s"; fi
}
trap finish EXIT
export DEBIAN_FRONTEND=noninteractive
[[ -f "$BUILD_DIR/CMakeCache.txt" ]] || { log "no CMake build tree at $BUILD_DIR (configure a native build first)"; exit 1; }
if grep -q '^CMAKE_TOOLCHAIN_FILE:' "$BUILD_DIR/CMakeCache.txt"; then
  log "$BUILD_DIR is a cross build; this check installs the package here, use a native build tree"; exit 1
fi

STEP=build
log "cmake --build ${BUILD_DIR#$ROOT/} --target edge-agent"
cmake --build "$BUILD_DIR" --target edge-agent -j"$(nproc)" >/dev/null
STEP=cpack
rm -f "$BUILD_DIR"/edge-agent_*.deb
log "cpack -G DEB (in ${BUILD_DIR#$ROOT/})"
(cd "$BUILD_DIR" && cpack -G DEB) | sed 's/^/    /'
DEB=$(ls -t "$BUILD_DIR"/edge-agent_*_"$(dpkg --print-architecture)".deb | head -1)
log "package: ${DEB#$ROOT/} ($(stat -c %s "$DEB") bytes)"

STEP=contents
dpkg-deb -f "$DEB" Package Version Architecture Depends | sed 's/^/    /'
contents=$(dpkg-deb -c "$DEB")
for p in ./usr/bin/edge-agent ./etc/edgesync/edge-agent.yaml ./lib/systemd/system/edge-agent.service; do
  grep -q " $p\$" <<<"$contents" || { log "missing $p in the package"; exit 1; }
done
ctrl=$(mktemp -d); CLEANUP=$ctrl
dpkg-deb -e "$DEB" "$ctrl"
grep -qx /etc/edgesync/edge-agent.yaml "$ctrl/conffiles" || { log "edge-agent.yaml is not a conffile"; exit 1; }
for s in postinst prerm postrm; do [[ -x "$ctrl/$s" ]] || { log "maintainer script $s missing"; exit 1; }; done
log "contents OK: binary, conffile, unit, postinst/prerm/postrm"

STEP=install
log "dpkg -i ${DEB#$ROOT/}"
if ! dpkg -i "$DEB"; then
  log "dpkg -i left dependencies open: apt-get -f install"
  apt-get update -qq && apt-get -f install -y -qq
fi
dpkg-query -W -f='${Status}\n' edge-agent | grep -q "install ok installed" || { log "edge-agent not installed"; exit 1; }

STEP=postinst
getent passwd edgesync >/dev/null || { log "user edgesync missing"; exit 1; }
[[ $(stat -c %U:%a /var/lib/edgesync) == edgesync:750 ]] || { log "/var/lib/edgesync: $(stat -c %U:%a /var/lib/edgesync), want edgesync:750"; exit 1; }
[[ $(stat -c %U:%G:%a /etc/edgesync/secrets) == root:edgesync:750 ]] || { log "/etc/edgesync/secrets: $(stat -c %U:%G:%a /etc/edgesync/secrets)"; exit 1; }
log "postinst OK: user $(id edgesync), /var/lib/edgesync edgesync:750, /etc/edgesync/secrets root:edgesync:750"

STEP=run
log "edge-agent --version: $(/usr/bin/edge-agent --version)"
log "edge-agent check-config /etc/edgesync/edge-agent.yaml"
/usr/bin/edge-agent check-config /etc/edgesync/edge-agent.yaml
log "as user edgesync: edge-agent check-config /etc/edgesync/edge-agent.yaml"
runuser -u edgesync -- /usr/bin/edge-agent check-config /etc/edgesync/edge-agent.yaml

STEP=systemd
if ! command -v systemd-analyze >/dev/null; then
  log "apt-get install systemd (for systemd-analyze)"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
if [[ -d /run/systemd/system ]]; then log "systemd is running here"; else
  log "no systemd as PID 1 here: 'verify' and 'security --offline' check the unit files only (no start)"; fi
log "systemd-analyze verify /lib/systemd/system/edge-agent.service"
systemd-analyze verify /lib/systemd/system/edge-agent.service
log "systemd-analyze security --offline=true (exposure, lower is better):"
systemd-analyze security --offline=true --no-pager /lib/systemd/system/edge-agent.service | tail -1 | sed 's/^/    /'

STEP=upgrade
echo "# local edit by check-deb" >> /etc/edgesync/edge-agent.yaml
log "reinstall (upgrade path) with an edited conffile"
dpkg -i --force-confold "$DEB" >/dev/null
grep -q "# local edit by check-deb" /etc/edgesync/edge-agent.yaml || { log "conffile edit lost on upgrade"; exit 1; }
sed -i '/# local edit by check-deb/d' /etc/edgesync/edge-agent.yaml

if ((KEEP)); then
  log "--keep: edge-agent stays installed"
else
  STEP=purge
  log "dpkg --purge edge-agent"
  dpkg --purge edge-agent >/dev/null
  [[ ! -e /usr/bin/edge-agent && ! -e /var/lib/edgesync && ! -e /etc/edgesync/edge-agent.yaml ]] \
    || { log "purge left files behind"; exit 1; }
fi
STEP="finished"
