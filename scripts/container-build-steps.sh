#!/usr/bin/env bash
# The build steps of edge-agent/Dockerfile and cloud-hub/Dockerfile, as one script that the
# Dockerfiles' RUN lines and CI (without a container runtime) both call, so what CI checks is what
# the image build does.
#
#   container-build-steps.sh build-deps   ARCH               # apt: toolchain + -dev packages (native or cross)
#   container-build-steps.sh build        ARCH COMPONENT OUT # configure, build, install COMPONENT into OUT
#   container-build-steps.sh runtime-deps PKGLIST            # runtime stage: apt the libraries PKGLIST names, add user
#   container-build-steps.sh ci           [ARCH]             # CI: build-deps + build both components into build-container/
#
# ARCH: a dpkg architecture (amd64, arm64, armhf) or a Docker TARGETARCH[/TARGETVARIANT]
# (amd64, arm64, arm/v7). When ARCH differs from the build machine's architecture the build
# cross-compiles with cross/toolchain-*.cmake (the Dockerfiles run the build stage on
# $BUILDPLATFORM, so multi-arch images need no emulation for compiling).
# COMPONENT: edge-agent | cloud-hub. OUT receives usr/bin/COMPONENT (stripped),
# etc/edgesync/COMPONENT.yaml (container defaults) and runtime-packages.txt (Debian packages of
# the shared libraries the binary needs, from objdump NEEDED + dpkg -S).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# log, installed, apt_install_missing and the build package list (the Dockerfiles copy lib.sh
# beside this script).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
es_log_name container-build
export DEBIAN_FRONTEND=noninteractive

deb_arch() {
  case "$1" in
    amd64|x86_64|linux/amd64) echo amd64 ;;
    arm64|aarch64|arm64/v8|linux/arm64) echo arm64 ;;
    armhf|arm|arm/v7|linux/arm/v7) echo armhf ;;
    *) echo "unsupported architecture: $1" >&2; return 1 ;;
  esac
}
HOST_ARCH=$(dpkg --print-architecture)
triple_of() { case "$1" in amd64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;; esac; }
toolchain_of() { case "$1" in arm64) echo "$ROOT/cross/toolchain-aarch64.cmake" ;; armhf) echo "$ROOT/cross/toolchain-armhf.cmake" ;; esac; }

build_deps() {
  local arch; arch=$(deb_arch "$1")
  apt_install_missing "${EDGESYNC_BUILD_PKGS[@]}"
  if [[ $arch != "$HOST_ARCH" ]]; then
    log "cross: scripts/install-cross-deps.sh $arch"
    EDGESYNC_CROSS_NO_QEMU=1 bash "$ROOT/scripts/install-cross-deps.sh" "$arch"
  fi
}

build() {
  local arch comp out; arch=$(deb_arch "$1"); comp=$2; out=$3
  case "$comp" in edge-agent|cloud-hub) ;; *) echo "component: edge-agent|cloud-hub" >&2; exit 2 ;; esac
  local bdir="${BUILD_DIR:-$ROOT/build-container-$arch}" triple; triple=$(triple_of "$arch")
  local args=(-S "$ROOT" -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDGESYNC_BUILD_TESTS=OFF)
  [[ $arch != "$HOST_ARCH" ]] && args+=(-DCMAKE_TOOLCHAIN_FILE="$(toolchain_of "$arch")")
  log "cmake ${args[*]}"
  cmake "${args[@]}" >/dev/null
  log "cmake --build $bdir --target $comp"
  cmake --build "$bdir" --target "$comp" -j"${JOBS:-$(nproc)}"
  mkdir -p "$out/usr/bin" "$out/etc/edgesync"
  local bin="" f
  while read -r f; do [[ $(file -b "$f") == ELF* ]] && { bin=$f; break; }; done \
    < <(find "$bdir" -type f -name "$comp" -perm -u+x -not -path '*/CMakeFiles/*' | sort)
  [[ -n $bin ]] || { log "no $comp binary in $bdir"; exit 1; }
  "$triple-strip" -o "$out/usr/bin/$comp" "$bin"
  log "$out/usr/bin/$comp: $(stat -c %s "$out/usr/bin/$comp") bytes stripped ($(file -b "$out/usr/bin/$comp" | cut -d, -f2))"

  # Container default config: listen on all interfaces (the HEALTHCHECK and the orchestrator's
  # probes reach it from outside the process' loopback in some setups).
  if [[ $comp == edge-agent ]]; then
    sed -e 's#^\(  listen:\) 127\.0\.0\.1:9102#\1 0.0.0.0:9102#' "$ROOT/edge-agent/packaging/edge-agent.yaml" \
      > "$out/etc/edgesync/edge-agent.yaml"
  else
    cat > "$out/etc/edgesync/cloud-hub.yaml" <<'YAML'
# cloud-hub container defaults; mount your own at /etc/edgesync/cloud-hub.yaml
hub:
  listen: 0.0.0.0:7443
  shutdown_grace_ms: 20000
  tls: { enabled: false, ca_file: "", cert_file: "", key_file: "" }
  tokens_file: ""
kafka:
  bootstrap_servers: kafka:9092
  default_topic: telemetry
  routes:
    - { filter: "alerts/#", topic: alerts }
  properties: {}
metrics:
  listen: 0.0.0.0:9103
log:
  level: info
YAML
  fi

  # Runtime packages: the Debian packages that ship the binary's NEEDED libraries.
  # (dpkg knows some libraries by their /lib path, others by /usr/lib: merged /usr, so try both.)
  local so cand owner pkgs=()
  for so in $("$triple-objdump" -p "$bin" | awk '/NEEDED/{print $2}'); do
    owner=""
    for cand in "/usr/lib/$triple/$so" "/lib/$triple/$so" "$(readlink -f "/usr/lib/$triple/$so" 2>/dev/null)"; do
      owner=$(dpkg -S "$cand" 2>/dev/null | head -1 | cut -d: -f1) && [[ -n $owner ]] && break
    done
    [[ -n $owner ]] || { log "cannot find the package of $so ($arch)"; exit 1; }
    pkgs+=("$owner")
  done
  printf '%s\n' "${pkgs[@]}" | sort -u | grep -v -x -E 'libc6|libgcc-s1|libstdc\+\+6' > "$out/runtime-packages.txt" || true
  log "runtime packages: $(tr '\n' ' ' < "$out/runtime-packages.txt")"
}

runtime_deps() {
  local list=$1 pkgs
  mapfile -t pkgs < <(grep -v '^\s*$' "$list")
  if [[ ${DRY_RUN:-0} == 1 ]]; then
    # DRY_ARCH: check the packages of that architecture (cross builds in CI)
    [[ -n ${DRY_ARCH:-} && ${DRY_ARCH} != "$HOST_ARCH" ]] && pkgs=("${pkgs[@]/%/:$DRY_ARCH}")
    log "apt-get -s install ${pkgs[*]} (dry run)"
    apt-get -s install --no-install-recommends "${pkgs[@]}" | grep -E '^(Inst|E:)' | sed 's/^/    /' || true
    return
  fi
  log "apt-get install --no-install-recommends ${pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  apt-get clean; rm -rf /var/lib/apt/lists/*
  getent group edgesync >/dev/null || groupadd --system --gid 10001 edgesync
  getent passwd edgesync >/dev/null || useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/edgesync \
    --no-create-home --shell /usr/sbin/nologin edgesync
  install -d -o 10001 -g 10001 -m 0750 /var/lib/edgesync
  install -d -o root -g 10001 -m 0750 /etc/edgesync/secrets
}

ci() {
  # Runs the image build steps as the Dockerfiles do, from a staging copy that holds only what the
  # Dockerfiles' build stage COPYs (so a missing COPY fails here too), then checks that apt can
  # resolve the runtime package list (dry run).
  local arch; arch=$(deb_arch "${1:-$HOST_ARCH}")
  local T0; T0=$(date +%s)
  local work="$ROOT/build-container-$arch" c src
  local stage="$work/context"
  rm -rf "$stage"; mkdir -p "$stage"
  for c in edge-agent cloud-hub; do
    # build-stage COPY lines (before the runtime FROM), without --from
    while read -r src; do
      [[ -e "$ROOT/$src" ]] || { log "$c/Dockerfile: COPY source $src missing"; exit 1; }
      mkdir -p "$stage/$(dirname "$src")"
      cp -a "$ROOT/$src" "$stage/$(dirname "$src")/"
    done < <(awk '/^FROM .* AS runtime/{exit} /^COPY / && !/--from/ {for (i = 2; i < NF; i++) print $i}' "$ROOT/$c/Dockerfile" | sed 's#/$##')
  done
  log "staged the Dockerfiles' build context: $(cd "$stage" && ls | tr '\n' ' ')"
  bash "$stage/scripts/container-build-steps.sh" build-deps "$arch"
  for c in edge-agent cloud-hub; do
    BUILD_DIR="$work/build" bash "$stage/scripts/container-build-steps.sh" build "$arch" "$c" "$work/out-$c"
    DRY_RUN=1 DRY_ARCH=$arch runtime_deps "$work/out-$c/runtime-packages.txt"
  done
  log "OK ($arch) in $(( $(date +%s) - T0 ))s"
}

cmd=${1:-}; shift || true
case "$cmd" in
  # An empty ARCH (legacy `docker build` without BuildKit sets no TARGETARCH) means this machine's.
  build-deps) build_deps "${1:-$HOST_ARCH}" ;;
  build) build "${1:-$HOST_ARCH}" "${2:?COMPONENT}" "${3:?OUT}" ;;
  runtime-deps) runtime_deps "${1:?PKGLIST}" ;;
  ci) ci "${1:-}" ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
