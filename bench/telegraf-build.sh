#!/usr/bin/env bash
# Builds a Telegraf binary for the P6 comparison (bench/p6_telegraf.sh) from the Go module proxy,
# with Telegraf's custom-build tags so only the plugins the benchmark uses are compiled in.
#
#   bench/telegraf-build.sh            prints the binary path as the last line of stdout
#
# Env: TELEGRAF_VERSION (default v1.37.2), EDGESYNC_BENCH_CACHE (default ~/.cache/edgesync-bench),
#      TELEGRAF_GOTOOLCHAIN (default go1.27.3; used only if the release needs a newer Go than the
#      one installed). The binary is cached per version and tag set: a second run is instant.
#
# `go install module@version` is not used: it refuses modules with replace directives (some
# Telegraf releases have them) and cannot set the version ldflags. Instead the module zip is
# fetched with `go mod download`, its source copied to a writable dir and built there, exactly as
# Telegraf's Makefile does (CGO_ENABLED=0, -X internal.Version).
set -euo pipefail
export PATH="/usr/local/go/bin:$PATH"
VERSION="${TELEGRAF_VERSION:-v1.37.2}"
CACHE="${EDGESYNC_BENCH_CACHE:-$HOME/.cache/edgesync-bench}"
# mqtt_consumer in, kafka out; value parser (base64 passthrough) and template serializer (b64dec)
# move the MQTT payload bytes unchanged.
TAGS="custom,inputs.mqtt_consumer,outputs.kafka,parsers.value,serializers.template"
BIN="$CACHE/telegraf-$VERSION"
log() { echo "[telegraf-build] $*" >&2; }

if [[ -x "$BIN" && "$(cat "$BIN.tags" 2>/dev/null)" == "$TAGS" ]]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { log "no Go toolchain on PATH (expected /usr/local/go/bin/go)"; exit 1; }
mkdir -p "$CACHE"
log "fetching github.com/influxdata/telegraf@$VERSION from $(go env GOPROXY)"
json="$(cd "$CACHE" && go mod download -json "github.com/influxdata/telegraf@$VERSION")" \
  || { log "go mod download failed:"; echo "$json" >&2; exit 1; }
moddir="$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir","")); e=d.get("Error"); e and sys.exit(e)' <<<"$json")"
[[ -d "$moddir" ]] || { log "module dir missing: $json"; exit 1; }

# The tags must exist in this release, or a custom build silently drops the plugin.
for f in plugins/inputs/all/mqtt_consumer.go plugins/outputs/all/kafka.go \
         plugins/parsers/all/value.go plugins/serializers/all/template.go; do
  tag="$(basename "$(dirname "$(dirname "$f")")").$(basename "$f" .go)"
  grep -q "^//go:build !custom .*|| $tag\$" "$moddir/$f" \
    || { log "$f in $VERSION has no '$tag' custom-build tag"; exit 1; }
done

need="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$moddir/go.mod")"
have="$(go env GOVERSION | sed 's/^go//')"
if [[ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]]; then
  export GOTOOLCHAIN="${TELEGRAF_GOTOOLCHAIN:-go1.27.3}"
  log "Telegraf $VERSION needs Go $need, installed is $have: using GOTOOLCHAIN=$GOTOOLCHAIN"
else
  export GOTOOLCHAIN=local
fi

src="$CACHE/telegraf-src-$VERSION"
rm -rf "$src"
cp -r "$moddir" "$src"
chmod -R u+w "$src"
log "building $VERSION with tags $TAGS in $src (slow on a small machine)"
t0=$(date +%s)
(cd "$src" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" nice -n 10 go build -trimpath \
   -tags "$TAGS" \
   -ldflags "-s -w -X github.com/influxdata/telegraf/internal.Version=${VERSION#v}" \
   -o "$BIN.tmp" ./cmd/telegraf) >&2
mv "$BIN.tmp" "$BIN"
echo "$TAGS" > "$BIN.tags"
log "built in $(( $(date +%s) - t0 )) s: $("$BIN" --version)"
# Check the plugins really are in the binary.
plugins="$("$BIN" plugins 2>/dev/null || true)"
for p in inputs.mqtt_consumer outputs.kafka; do
  grep -qx "$p" <<<"$plugins" || log "warning: '$BIN plugins' does not list $p"
done
echo "$BIN"
