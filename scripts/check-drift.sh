#!/usr/bin/env bash
# Charts vs k3s/: the objects `helm template` renders with the default values and the ones
# `kubectl kustomize k3s/` builds must agree field by field (the deploy stage runs it after
# rendering; docs/deploy.md).
#
#   scripts/check-drift.sh RENDER_DIR     (helm-edge-agent.yaml, helm-cloud-hub.yaml, k3s.yaml)
#
# Objects are paired in PAIRS below (an object of either side without a pair fails: a kind or an
# object only one side has). Each object is flattened to "path=value" lines (jq over yq); an
# embedded config (a ConfigMap key ending in .yaml) is flattened too, so formatting and comments do
# not count, and a .conf file is compared without comments and blank lines. Helm's bookkeeping
# (instance/managed-by/version/chart labels, checksum annotations, names, namespace) is left out
# and the chart's object names are read as the k3s ones. Every other difference fails unless a
# line of k3s/drift-allowed.txt ("Kind/k3s-name  regex  # why") matches it; an allowed line that
# matches nothing fails too (the list may only shrink, like tests/tidy-pending.txt).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/lib.sh"
es_log_name drift
R="${1:?usage: check-drift.sh RENDER_DIR}"
ALLOWED="$ROOT/k3s/drift-allowed.txt"
command -v yq >/dev/null && command -v jq >/dev/null || die "yq and jq needed (scripts/install-deps.sh)"

# kind  helm-file  helm-name  k3s-name
PAIRS=(
  "DaemonSet helm-edge-agent.yaml es-edge-agent edge-agent"
  "DaemonSet helm-edge-agent.yaml es-edge-agent-mosquitto edgesync-mosquitto"
  "ConfigMap helm-edge-agent.yaml es-edge-agent edge-agent-config"
  "ConfigMap helm-edge-agent.yaml es-edge-agent-mosquitto edgesync-mosquitto-config"
  "Deployment helm-cloud-hub.yaml es-cloud-hub cloud-hub"
  "Service helm-cloud-hub.yaml es-cloud-hub cloud-hub"
  "Service helm-cloud-hub.yaml es-cloud-hub-metrics cloud-hub-metrics"
  "ConfigMap helm-cloud-hub.yaml es-cloud-hub cloud-hub-config"
  "HorizontalPodAutoscaler helm-cloud-hub.yaml es-cloud-hub cloud-hub"
  "PodDisruptionBudget helm-cloud-hub.yaml es-cloud-hub cloud-hub"
  "NetworkPolicy helm-cloud-hub.yaml es-cloud-hub cloud-hub"
)
NOT_PAIRED_K3S="Namespace/edgesync"  # k3s/ creates the namespace; helm installs into one

# The chart's names as k3s's: object names, and what refers to them (ConfigMap volumes).
rename() {
  sed -E 's/(configMap\.name=)es-edge-agent-mosquitto$/\1edgesync-mosquitto-config/;
          s/(configMap\.name=)es-edge-agent$/\1edge-agent-config/;
          s/(configMap\.name=)es-cloud-hub$/\1cloud-hub-config/;
          s/=es-edge-agent-mosquitto$/=edgesync-mosquitto/; s/=es-edge-agent$/=edge-agent/;
          s/=es-cloud-hub(-metrics)?$/=cloud-hub\1/'
}
BOOKKEEPING='(^|\.)(labels|matchLabels|selector)\.(app\.kubernetes\.io/(instance|managed-by|version)|helm\.sh/chart)=|annotations\.checksum/|^metadata\.(name|namespace)='

# Lists of named objects (containers, volumes, ports, env) are keyed by name, not position, so
# that one inserted volume does not show as every later one changed.
JQ_FLAT='def keyed: if type == "object" then with_entries(.value |= keyed)
  elif type == "array" and length > 0 and all(.[]; type == "object" and has("name"))
  then map({key: ("[" + .name + "]"), value: keyed}) | from_entries
  elif type == "array" then map(keyed) else . end;
  keyed | paths(scalars) as $p | "\($p | map(tostring) | join("."))=\(getpath($p))"'

# file kind name -> sorted "path=value" lines of that object (embedded files flattened)
flat() {
  local doc
  doc=$(yq -c --arg k "$2" --arg n "$3" 'select(.kind == $k and .metadata.name == $n)' "$1")
  [[ -n $doc ]] || { echo "MISSING=$2/$3 in $(basename "$1")"; return; }
  jq -r "del(.data) | $JQ_FLAT" <<<"$doc"
  local key
  for key in $(jq -r '.data // {} | keys[]' <<<"$doc"); do
    local text; text=$(jq -r --arg k "$key" '.data[$k]' <<<"$doc")
    if [[ $key == *.yaml ]]; then
      yq -r "$JQ_FLAT" <<<"$text" \
        | sed "s|^|data.$key.|"
    else
      grep -vE '^\s*(#|$)' <<<"$text" | sed "s|^|data.$key: |"
    fi
  done
}

fail=0; diffs=()
mapfile -t allowed < <(grep -vE '^\s*(#|$)' "$ALLOWED" 2>/dev/null | sed -E 's/\s+#.*$//')
declare -A used=()
for p in "${PAIRS[@]}"; do
  read -r kind file hname kname <<<"$p"
  while IFS= read -r line; do
    [[ -z $line ]] && continue
    ok=0
    for i in "${!allowed[@]}"; do
      read -r obj rx <<<"${allowed[$i]}"
      if [[ $obj == "$kind/$kname" ]] && grep -qE -- "$rx" <<<"${line:2}"; then ok=1; used[$i]=1; fi
    done
    ((ok)) || diffs+=("$kind/$kname: ${line:0:1} ${line:2}")
  done < <(diff <(flat "$R/$file" "$kind" "$hname" | grep -vE "$BOOKKEEPING" | rename | sort) \
                <(flat "$R/k3s.yaml" "$kind" "$kname" | grep -vE "$BOOKKEEPING" | sort) \
           | grep -E '^[<>] ' | sed 's/^</h/; s/^>/k/')
done

# Objects nobody paired: a kind or an object one side has and the other lacks.
paired_h=" "; paired_k=" $NOT_PAIRED_K3S "
for p in "${PAIRS[@]}"; do read -r kind file hname kname <<<"$p"; paired_h+="$kind/$hname@$file "; paired_k+="$kind/$kname "; done
for f in helm-edge-agent.yaml helm-cloud-hub.yaml; do
  while read -r o; do [[ -z $o || $paired_h == *" $o@$f "* ]] || diffs+=("$o: only in the chart ($f)"); done \
    < <(yq -r '.kind + "/" + .metadata.name' "$R/$f" | grep -v '^/$')
done
while read -r o; do [[ -z $o || $paired_k == *" $o "* ]] || diffs+=("$o: only in k3s/"); done \
  < <(yq -r '.kind + "/" + .metadata.name' "$R/k3s.yaml" | grep -v '^/$')

for i in "${!allowed[@]}"; do
  [[ -n ${used[$i]:-} ]] || { echo "    stale allowance (matches nothing): ${allowed[$i]}"; fail=1; }
done
if ((${#diffs[@]})); then
  printf '    %s\n' "${diffs[@]}"
  echo "    (h = chart, k = k3s/; fix one side, or allow it with a reason in k3s/drift-allowed.txt)"
  fail=1
fi
((fail == 0)) || die "charts and k3s/ differ"
log "charts and k3s/ agree field by field on ${#PAIRS[@]} object pairs ($(grep -cvE '^\s*(#|$)' "$ALLOWED" 2>/dev/null || echo 0) allowed differences)"
