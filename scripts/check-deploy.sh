#!/usr/bin/env bash
# Offline checks of the deployment artefacts: Helm charts (charts/*), plain K3s manifests (k3s/)
# and Strimzi topics (k3s/kafka-topics.yaml).
#
#   scripts/check-deploy.sh
#
#  1. tools (cached, idempotent):
#     helm       - `helm` on PATH, else $GOPATH/bin/helm, else `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION`
#     kustomize  - `kubectl kustomize`, else `kustomize`, else `go install sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION`
#     validator  - PyPI kubernetes-validate (ships the Kubernetes JSON schemas in the wheel, so it
#                  works offline, unlike kubeconform which downloads schemas at run time) in a venv
#                  under $DEPLOY_CACHE (default build-deploy/)
#  2. helm lint (--strict) and helm template of both charts, defaults and a second set of values
#  3. kustomize build of k3s/ and of its exactly_once overlay k3s-exactly-once/
#  4. validation of every rendered object against the Kubernetes schemas ($KUBE_VERSIONS, strict:
#     unknown fields are errors); CRD kinds in $SKIP_KINDS (KafkaTopic) are skipped by name and
#     get a structural check instead; plus policy checks: limits, non-root, read-only root fs,
#     no privilege escalation, probes, embedded agent/hub configs parse and have their required
#     keys, hub grace period >= drain time.
#  4b. scripts/check-drift.sh: the default renders of both charts and k3s/ agree object by object,
#     field by field (embedded configs parsed), but for the differences k3s/drift-allowed.txt
#     allows with a reason.
# Last line: "[deploy-checks] OK in Ns" or "[deploy-checks] FAIL (step) in Ns".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
HELM_VERSION="${HELM_VERSION:-v3.19.0}"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.7.1}"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
KUBE_VERSIONS="${KUBE_VERSIONS:-1.29.0 1.33.0}"
SKIP_KINDS="${SKIP_KINDS:-KafkaTopic}"
DEPLOY_CACHE="${DEPLOY_CACHE:-$ROOT/build-deploy}"
OUT="$DEPLOY_CACHE/rendered"
T0=$(date +%s); STEP=init
. "$ROOT/scripts/lib.sh"  # log
es_log_name deploy-checks
finish() {
  local rc=$?
  if ((rc == 0)); then log "OK in $(( $(date +%s) - T0 ))s"
  else log "FAIL ($STEP) in $(( $(date +%s) - T0 ))s"; fi
}
trap finish EXIT
mkdir -p "$OUT"; rm -rf "$OUT"/*.yaml "$OUT/configs"

# ---- 1. tools ---------------------------------------------------------------------------------
STEP=tools
GOBIN_DIR="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
HELM=""
if command -v helm >/dev/null && helm version --short 2>/dev/null | grep -q '^v3'; then HELM=$(command -v helm)
elif [[ -x "$GOBIN_DIR/helm" ]]; then HELM="$GOBIN_DIR/helm"
else
  log "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION (about 3 min on 2 cores, once)"
  go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  HELM="$GOBIN_DIR/helm"
fi
log "helm: $HELM ($("$HELM" version --short 2>/dev/null))"

if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then KUSTOMIZE=(kubectl kustomize)
elif command -v kustomize >/dev/null; then KUSTOMIZE=(kustomize build)
elif [[ -x "$GOBIN_DIR/kustomize" ]]; then KUSTOMIZE=("$GOBIN_DIR/kustomize" build)
else
  log "go install sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  KUSTOMIZE=("$GOBIN_DIR/kustomize" build)
fi
log "kustomize: ${KUSTOMIZE[*]}"

VENV="$DEPLOY_CACHE/venv"
if ! "$VENV/bin/python" -c "import kubernetes_validate, yaml, sys; sys.exit(kubernetes_validate.__version__ != '$KUBERNETES_VALIDATE_VERSION')" 2>/dev/null \
   && ! "$VENV/bin/pip" show kubernetes-validate 2>/dev/null | grep -qx "Version: $KUBERNETES_VALIDATE_VERSION"; then
  log "python3 -m venv $VENV && pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
log "validator: kubernetes-validate $("$VENV/bin/pip" show kubernetes-validate | awk '/^Version/{print $2}') (offline schemas)"

# ---- 2. helm ------------------------------------------------------------------------------------
KV_FIRST="${KUBE_VERSIONS%% *}"
STEP=helm-lint
for c in edge-agent cloud-hub; do
  log "helm lint --strict charts/$c"
  "$HELM" lint --strict --kube-version "$KV_FIRST" "charts/$c" | sed 's/^/    /'
done
STEP=helm-template
render() { # chart outfile args...
  local c=$1 f=$2; shift 2
  log "helm template charts/$c $* > ${f#$ROOT/}"
  "$HELM" template "es-$c" "charts/$c" --namespace edgesync --kube-version "$KV_FIRST" "$@" > "$f"
}
render edge-agent "$OUT/helm-edge-agent.yaml"
render edge-agent "$OUT/helm-edge-agent-alt.yaml" --set uplink.tls.enabled=false \
  --set uplink.token.existingSecret= --set mosquitto.enabled=false --set hostNetwork=false \
  --set edgeNodes.kubeEdgeRoleLabel= --set config.agentIdPrefix=site1- --set priorityClassName=edge-critical
render edge-agent "$OUT/helm-edge-agent-pernode.yaml" --set uplink.token.perNode=true --set uplink.tls.perNode=true
render cloud-hub "$OUT/helm-cloud-hub.yaml"
render cloud-hub "$OUT/helm-cloud-hub-alt.yaml" --set tls.enabled=false --set tokens.existingSecret= \
  --set autoscaling.enabled=false --set podDisruptionBudget.enabled=false --set networkPolicy.enabled=false \
  --set service.type=ClusterIP --set kafka.properties=null --set hub.shutdownGraceMs=45000 \
  --set kafka.credentialsSecret=edgesync-hub-kafka
render cloud-hub "$OUT/helm-cloud-hub-eos.yaml" --set kafka.delivery=exactly_once
# Misconfiguration must fail rendering.
if "$HELM" template x charts/cloud-hub --kube-version "$KV_FIRST" --set tls.existingSecret= >/dev/null 2>&1; then
  log "cloud-hub: tls.enabled without tls.existingSecret rendered, expected a failure"; exit 1
fi
if "$HELM" template x charts/cloud-hub --kube-version "$KV_FIRST" --set kafka.delivery=once >/dev/null 2>&1; then
  log "cloud-hub: kafka.delivery=once rendered, expected a failure"; exit 1
fi

# ---- 3. kustomize ---------------------------------------------------------------------------------
STEP=kustomize
log "${KUSTOMIZE[*]} k3s/ > ${OUT#$ROOT/}/k3s.yaml"
"${KUSTOMIZE[@]}" k3s > "$OUT/k3s.yaml"
log "${KUSTOMIZE[*]} k3s-exactly-once/ > ${OUT#$ROOT/}/k3s-exactly-once.yaml"
"${KUSTOMIZE[@]}" k3s-exactly-once > "$OUT/k3s-exactly-once.yaml"
cp k3s/kafka-topics.yaml "$OUT/kafka-topics.yaml"

# ---- 4. validation --------------------------------------------------------------------------------
STEP=validate
log "validating $(ls "$OUT" | wc -l) files against Kubernetes $KUBE_VERSIONS (strict), skipping kinds: $SKIP_KINDS"
"$VENV/bin/python" "$ROOT/scripts/check_deploy_validate.py" "$OUT" "$KUBE_VERSIONS" "$SKIP_KINDS" \
  "$ROOT/edge-agent/packaging/edge-agent.yaml"

# ---- 4b. charts vs k3s/, field by field ---------------------------------------------------------
STEP=drift
log "scripts/check-drift.sh: the default chart renders vs k3s/, object by object"
"$ROOT/scripts/check-drift.sh" "$OUT"

# ---- 5. the real parsers ------------------------------------------------------------------------
# Every agent/hub config the charts and k3s/ produce (and the .deb default) must pass the
# programs' own `check-config` (unknown keys are errors there). Uses a native build when one exists
# (EDGESYNC_BIN_DIR, else build/bin); skipped with a note otherwise, or with
# EDGESYNC_SKIP_CHECK_CONFIG=1.
STEP=check-config
BIN_DIR="${EDGESYNC_BIN_DIR:-$ROOT/build/bin}"
if [[ ${EDGESYNC_SKIP_CHECK_CONFIG:-0} == 1 ]]; then
  log "SKIP check-config: EDGESYNC_SKIP_CHECK_CONFIG=1"
elif [[ -x "$BIN_DIR/edge-agent" && -x "$BIN_DIR/cloud-hub" ]] && "$BIN_DIR/edge-agent" --version >/dev/null 2>&1; then
  log "check-config with $("$BIN_DIR/edge-agent" --version) / $("$BIN_DIR/cloud-hub" --version) from ${BIN_DIR#$ROOT/}"
  fails=0
  for f in "$OUT"/configs/*edge-agent.yaml "$ROOT/edge-agent/packaging/edge-agent.yaml" "$OUT"/configs/*cloud-hub.yaml; do
    prog=edge-agent; [[ $f == *cloud-hub.yaml ]] && prog=cloud-hub
    if msg=$("$BIN_DIR/$prog" check-config "$f" 2>&1); then echo "    ok   ${f#$ROOT/}"
    else echo "    FAIL ${f#$ROOT/}: $msg"; fails=$((fails + 1)); fi
  done
  ((fails == 0)) || { log "$fails config(s) rejected by check-config"; exit 1; }
else
  log "SKIP check-config: no native edge-agent/cloud-hub in ${BIN_DIR#$ROOT/} (build natively first)"
fi
STEP="finished"
