#!/usr/bin/env bash
# Builds the edge-agent and cloud-hub images from edge-agent/Dockerfile and cloud-hub/Dockerfile with
# buildah (no Docker engine, no registry) and checks them. CI's `container` stage runs this.
#
#   scripts/build-images.sh [--refresh-base]
#
# 1. apt-get installs buildah, podman and debootstrap when missing.
# 2. Base image localhost/debian:bookworm-slim: made once with debootstrap (minbase, trimmed like the
#    official slim image) from the Debian mirror, since debian:bookworm-slim cannot be pulled here.
#    The rootfs tarball is kept in $CACHE (default /var/cache/edgesync-images), the image in the
#    buildah storage; --refresh-base makes both again (e.g. to pick up Debian point releases).
# 3. Copies what the Dockerfiles COPY into $CACHE/context (one snapshot for both images), then
#    buildah bud --layers --format docker --isolation chroot (storage driver vfs, as root):
#    the build stage (the same in both Dockerfiles) as localhost/edgesync/builder:dev, then
#    localhost/edgesync/edge-agent:dev and localhost/edgesync/cloud-hub:dev, which reuse it.
# 4. Checks each image: user non-root; HEALTHCHECK present, on an EXPOSEd port and on the port of
#    the image's metrics.listen; EXPOSEd ports as in the Dockerfile; entrypoint and default config
#    present; no compiler, build tool or -dev package in the image; as the image's user (buildah
#    run): all shared libraries resolve (ldd), `--version`, `check-config` of the default config,
#    `config-reference`; then starts the program with a test config (MQTT/hub/Kafka addresses
#    pointing to a closed port) and runs the image's own HEALTHCHECK command until it passes.
# 5. Removes dangling images (earlier builds' layers) from the storage; prints the image sizes.
#
# Environment: EDGESYNC_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# EDGESYNC_DEBIAN_SECURITY (default http://deb.debian.org/debian-security), CACHE,
# EDGESYNC_IMAGES_PRUNE=0 keeps dangling images. Needs root and ~8 GB free under
# /var/lib/containers (vfs copies every layer). Use the images with the same flags, e.g.
#   buildah --storage-driver vfs push localhost/edgesync/edge-agent:dev docker-archive:/tmp/edge-agent.tar
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CACHE:-/var/cache/edgesync-images}"
MIRROR="${EDGESYNC_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY="${EDGESYNC_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"
SUITE=bookworm
BASE=localhost/debian:bookworm-slim
BUILDER=localhost/edgesync/builder:dev
COMPONENTS=(edge-agent cloud-hub)
REFRESH_BASE=0
for a in "$@"; do
  case "$a" in
    --refresh-base) REFRESH_BASE=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done

T_ALL=$(date +%s)
. "$ROOT/scripts/lib.sh"  # log, die
es_log_name images
since() { echo "$(( $(date +%s) - $1 ))s"; }
B() { buildah --storage-driver vfs "$@"; }

[[ $(id -u) -eq 0 ]] || die "needs root (buildah with --isolation chroot and the vfs storage driver)"
mkdir -p "$CACHE"
# One build at a time (the storage is shared; the prune below must not race another build).
exec 9>"$CACHE/lock"
flock -w 3600 9 || die "another build-images.sh holds $CACHE/lock"

# --- 1. tools -------------------------------------------------------------------------------------
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v podman >/dev/null || need+=(podman)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})); then
  log "apt-get install --no-install-recommends ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
log "$(buildah --version)"

# Storage: vfs copies every layer in full; refuse to start when the disk is nearly full.
store=$(B info --format '{{.store.GraphRoot}}' 2>/dev/null || echo /var/lib/containers/storage)
mkdir -p "$store"
free_gb=$(( $(df -Pk "$store" | awk 'NR==2{print $4}') / 1024 / 1024 ))
((free_gb >= 8)) || die "only ${free_gb} GB free under $store; the vfs build needs about 8 GB"

# The build stages must stay identical, else the second image compiles everything again.
stage_of() { sed -n '/^ARG DEBIAN_IMAGE/,/^FROM .* AS runtime/p' "$1"; }
if ! diff <(stage_of "$ROOT/edge-agent/Dockerfile") <(stage_of "$ROOT/cloud-hub/Dockerfile") >/dev/null; then
  diff <(stage_of "$ROOT/edge-agent/Dockerfile") <(stage_of "$ROOT/cloud-hub/Dockerfile") || true
  die "the build stages of edge-agent/Dockerfile and cloud-hub/Dockerfile differ (keep them identical)"
fi

# --- 2. base image --------------------------------------------------------------------------------
make_base_tarball() {
  local tar=$1 rootfs="$CACHE/rootfs.tmp" t0; t0=$(date +%s)
  rm -rf "$rootfs"
  log "debootstrap --variant=minbase $SUITE ($MIRROR)"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log"; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  # Like debian:bookworm-slim (debuerreotype): deb822 sources with updates and security, no docs,
  # man pages or locales, apt keeps no .deb/.bin caches, no translations, compressed indexes.
  rm -f "$rootfs/etc/apt/sources.list"
  cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# as in debian:*-slim
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  echo force-unsafe-io > "$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' > "$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' > "$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
    "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/dev/* "$rootfs"/proc/* "$rootfs"/sys/* \
    "$rootfs"/run/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  tar --numeric-owner --xattrs -C "$rootfs" -cf "$tar.tmp" .
  mv "$tar.tmp" "$tar"
  rm -rf "$rootfs"
  log "base rootfs $tar: $(du -h "$tar" | cut -f1) in $(since "$t0")"
}

base_tar="$CACHE/debian-$SUITE-minbase-$(dpkg --print-architecture).tar"
if ((REFRESH_BASE)); then
  rm -f "$base_tar"
  B rmi -f "$BASE" >/dev/null 2>&1 || true
fi
if B inspect --type image "$BASE" >/dev/null 2>&1; then
  log "base image $BASE present"
else
  [[ -s $base_tar ]] || make_base_tarball "$base_tar"
  t0=$(date +%s)
  ctr=$(B from scratch)
  B add "$ctr" "$base_tar" / >/dev/null
  B config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label "org.opencontainers.image.description=debootstrap --variant=minbase $SUITE, trimmed like debian:$SUITE-slim" "$ctr"
  B commit --quiet --rm --format docker "$ctr" "$BASE" >/dev/null
  log "base image $BASE made from $base_tar in $(since "$t0")"
fi

# --- 3. build -------------------------------------------------------------------------------------
# The context: a copy of exactly what the Dockerfiles COPY (a missing path fails here), taken once,
# so that both images are built from the same sources even while the working tree changes. (The
# layer cache goes by content: buildah's COPY digest ignores mtimes.)
CTX="$CACHE/context"
rm -rf "$CTX"; mkdir -p "$CTX"
mapfile -t srcs < <(awk '/^COPY / && !/--from/ {for (i = 2; i < NF; i++) print $i}' \
  "$ROOT/edge-agent/Dockerfile" "$ROOT/cloud-hub/Dockerfile" | sed 's#/$##' | sort -u)
for src in "${srcs[@]}" .dockerignore edge-agent/Dockerfile cloud-hub/Dockerfile; do
  [[ -e $ROOT/$src ]] || die "$src (COPY source or Dockerfile) missing"
  mkdir -p "$CTX/$(dirname "$src")"
  cp -a "$ROOT/$src" "$CTX/$(dirname "$src")/"
done
log "context $CTX: $(du -sh "$CTX" | cut -f1) ($(tr '\n' ' ' <<<"${srcs[*]}"))"

# Timestamps on buildah's output show where the time goes.
stamp() { while IFS= read -r line; do printf '%(%H:%M:%S)T %s\n' -1 "$line"; done; }
# buildah 1.28 does not set TARGETARCH itself (BuildKit does).
BUD=(B bud --layers --format docker --isolation chroot --pull=never
  --build-arg "DEBIAN_IMAGE=$BASE" --build-arg "TARGETARCH=$(dpkg --print-architecture)"
  --build-arg TARGETVARIANT=)
t0=$(date +%s)
log "building the shared build stage -> $BUILDER"
"${BUD[@]}" --target build -f "$CTX/edge-agent/Dockerfile" -t "$BUILDER" "$CTX" 2>&1 | stamp \
  || die "build stage failed (buildah bud --target build -f edge-agent/Dockerfile)"
log "build stage done in $(since "$t0")"
for c in "${COMPONENTS[@]}"; do
  t1=$(date +%s)
  log "building localhost/edgesync/$c:dev"
  "${BUD[@]}" -f "$CTX/$c/Dockerfile" -t "localhost/edgesync/$c:dev" "$CTX" 2>&1 | stamp \
    || die "image build failed: $c/Dockerfile"
  log "localhost/edgesync/$c:dev built in $(since "$t1")"
done
T_BUILD=$(( $(date +%s) - t0 ))

# --- 4. checks ------------------------------------------------------------------------------------
CTRS=()
cleanup() {
  local c
  for c in "${CTRS[@]}"; do B rm "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

check_image() {
  local comp=$1
  local img="localhost/edgesync/$comp:dev" df="$CTX/$comp/Dockerfile" cfg="/etc/edgesync/$comp.yaml"
  local t0 j user ports want hc_port listen_port ctr mnt bad out
  t0=$(date +%s)
  j=$(B inspect --type image "$img") || die "$img: not in the storage"
  # Docker format keeps HEALTHCHECK; the OCI config would drop it.
  user=$(jq -r '.Docker.config.User // ""' <<<"$j")
  [[ -n $user && ${user%%:*} != 0 && ${user%%:*} != root ]] || die "$img: runs as root (User='$user')"
  ports=$(jq -r '.Docker.config.ExposedPorts // {} | keys[]' <<<"$j" | sort | tr '\n' ' ')
  want=$(awk '/^EXPOSE /{for (i = 2; i <= NF; i++) print ($i ~ /\//) ? $i : $i "/tcp"}' "$df" | sort | tr '\n' ' ')
  [[ -n $ports && $ports == "$want" ]] || die "$img: ExposedPorts '$ports', Dockerfile EXPOSEs '$want'"
  local -a hc
  mapfile -t hc < <(jq -r '.Docker.config.Healthcheck.Test // [] | .[]' <<<"$j")
  ((${#hc[@]} >= 2)) || die "$img: no HEALTHCHECK in the image config (built without --format docker?)"
  case "${hc[0]}" in
    CMD) hc=("${hc[@]:1}") ;;
    CMD-SHELL) hc=(/bin/sh -c "${hc[1]}") ;;
    *) die "$img: HEALTHCHECK test '${hc[*]}'" ;;
  esac
  hc_port=$(grep -oE '/dev/tcp/[0-9.]+/[0-9]+' <<<"${hc[*]}" | head -1 | awk -F/ '{print $NF}')
  [[ -n $hc_port && " $ports " == *" $hc_port/tcp "* ]] || die "$img: HEALTHCHECK port '$hc_port' is not EXPOSEd ($ports)"
  [[ $(jq -r '.Docker.config.Entrypoint[0] // ""' <<<"$j") == "/usr/bin/$comp" ]] || die "$img: entrypoint is not /usr/bin/$comp"

  ctr=$(B from --pull=never "$img" 2>/dev/null) || die "$img: buildah from failed"
  CTRS+=("$ctr")
  mnt=$(B mount "$ctr")
  [[ -x $mnt/usr/bin/$comp && -f $mnt$cfg ]] || die "$img: /usr/bin/$comp or $cfg missing"
  listen_port=$(awk '/^metrics:/{m=1; next} /^[^ #]/{m=0} m && $1 == "listen:" {n = split($2, a, ":"); print a[n]; exit}' "$mnt$cfg")
  [[ $listen_port == "$hc_port" ]] || die "$img: HEALTHCHECK probes port $hc_port but $cfg has metrics.listen port '$listen_port'"
  # Nothing of the build stage in the runtime image.
  bad=$(cd "$mnt/usr/bin" && ls | grep -E '^([a-z0-9_]+-linux-gnu[a-z]*-)?(gcc|g\+\+|c\+\+|cc|cpp|clang|clang\+\+|ld|ld\.bfd|ld\.gold|as|make|cmake|ninja|protoc|grpc_cpp_plugin)(-[0-9.]+)?$' || true)
  [[ -z $bad ]] || die "$img: build tools in the image: $(tr '\n' ' ' <<<"$bad")"
  bad=$(dpkg-query --admindir="$mnt/var/lib/dpkg" -W -f='${db:Status-Abbrev} ${Package}\n' \
        | awk '$1 == "ii" {print $2}' | grep -E -- '-dev$|^(gcc|g\+\+|cpp|binutils|build-essential|cmake|ninja-build|make|protobuf-compiler)(-|$)' | grep -v -- '-base$' || true)
  [[ -z $bad ]] || die "$img: build packages in the image: $(tr '\n' ' ' <<<"$bad")"
  for d in src out tmp/build tmp/container-build-steps.sh tmp/runtime-packages.txt; do
    [[ ! -e $mnt/$d ]] || die "$img: build leftover /$d in the image"
  done
  if [[ $comp == edge-agent ]]; then
    [[ $(stat -c %u:%g "$mnt/var/lib/edgesync") == 10001:10001 ]] || die "$img: /var/lib/edgesync is not owned by 10001:10001"
  fi
  local npkg; npkg=$(dpkg-query --admindir="$mnt/var/lib/dpkg" -W -f='${db:Status-Abbrev}\n' | grep -c '^ii')

  # Run as the image's user (buildah run uses the image's User).
  local R=(B run --isolation chroot "$ctr" --)
  out=$("${R[@]}" id -u) || die "$img: buildah run failed"
  [[ $out == "${user%%:*}" ]] || die "$img: buildah run ran as uid $out, image User is $user"
  out=$("${R[@]}" ldd "/usr/bin/$comp") || die "$img: ldd /usr/bin/$comp failed"
  ! grep -q 'not found' <<<"$out" || die "$img: unresolved libraries: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
  out=$("${R[@]}" "/usr/bin/$comp" --version) || die "$img: $comp --version failed"
  [[ $out == "$comp "* ]] || die "$img: unexpected --version output '$out'"
  local version=$out
  "${R[@]}" "/usr/bin/$comp" check-config "$cfg" || die "$img: $comp check-config $cfg failed (the image's default config)"
  "${R[@]}" "/usr/bin/$comp" config-reference | grep -q . || die "$img: $comp config-reference printed nothing"

  # The image's HEALTHCHECK command against the running program (host network: buildah run
  # --isolation chroot has no network namespace, so the ports must be free).
  local ports_needed=("$hc_port") p busy=""
  [[ $comp == cloud-hub ]] && ports_needed+=(7443)
  for p in "${ports_needed[@]}"; do port_busy "$p" && busy+="$p "; done
  local hc_result
  if [[ -n $busy ]]; then
    hc_result="HEALTHCHECK not run (port(s) ${busy}in use on this machine)"
    log "WARN $img: $hc_result"
  else
    # Test config: the image's defaults with every peer on a closed port (nothing on this machine
    # is contacted) and the buffer in /tmp.
    sed -e 's#^\(  uri:\).*#\1 tcp://127.0.0.1:9#' \
        -e 's#^\(  hub:\).*#\1 127.0.0.1:9#' \
        -e 's#^\(  path:\).*#\1 /tmp/hc/buffer.db#' \
        -e 's#^\(  bootstrap_servers:\).*#\1 127.0.0.1:9#' \
        -e 's#^\(  id:\).*#\1 image-check#' \
        -e 's#^\(  listen:\) 0\.0\.0\.0:7443#\1 127.0.0.1:7443#' \
        "$mnt$cfg" > "$mnt/tmp/image-check.yaml"
    chmod 0644 "$mnt/tmp/image-check.yaml"
    out=$("${R[@]}" /bin/bash -c '
      comp=$1; shift
      mkdir -p /tmp/hc
      "/usr/bin/$comp" run --config /tmp/image-check.yaml > /tmp/hc/log 2>&1 & pid=$!
      for i in $(seq 1 40); do
        if "$@" 2>/dev/null; then echo "healthy after ${i} tries"; kill -9 $pid; exit 0; fi
        if ! kill -0 $pid 2>/dev/null; then echo "$comp exited:"; cat /tmp/hc/log; exit 1; fi
        sleep 0.5
      done
      kill -9 $pid; echo "not healthy after 20 s:"; cat /tmp/hc/log; exit 1' _ "$comp" "${hc[@]}" 2>&1) \
      || die "$img: HEALTHCHECK failed: $out"
    hc_result="HEALTHCHECK passes against the running $comp (${out})"
  fi
  B umount "$ctr" >/dev/null
  log "OK $img: $version, user $user, EXPOSE ${ports% }, HEALTHCHECK on $hc_port = metrics.listen," \
      "$npkg packages, no compiler/build tools/-dev packages, libraries resolve, check-config and" \
      "config-reference pass; $hc_result ($(since "$t0"))"
}

t0=$(date +%s)
for c in "${COMPONENTS[@]}"; do check_image "$c"; done
log "checks done in $(since "$t0")"
cleanup; CTRS=()

# --- 5. prune, sizes ------------------------------------------------------------------------------
if [[ ${EDGESYNC_IMAGES_PRUNE:-1} == 1 ]]; then
  n=$(B images -q --filter dangling=true | wc -l)
  if ((n)); then B rmi --prune >/dev/null 2>&1 || log "WARN: buildah rmi --prune failed"; fi
  log "removed $n dangling image(s); storage $store: $(du -sh "$store" 2>/dev/null | cut -f1)"
fi
log "images (uncompressed):"
B images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -E "^(localhost/edgesync/|$BASE )" | sed 's/^/[images]   /'
log "OK: both images built and checked in $(since "$T_ALL") (build ${T_BUILD}s)"
