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
"$VENV/bin/python" - "$OUT" "$KUBE_VERSIONS" "$SKIP_KINDS" "$ROOT/edge-agent/packaging/edge-agent.yaml" <<'PY'
import glob, os, sys, yaml
import kubernetes_validate as kv

out, versions, skip_kinds, pkg_cfg = sys.argv[1], sys.argv[2].split(), set(sys.argv[3].split()), sys.argv[4]
errors, counted = [], 0
def err(where, msg): errors.append(f"{where}: {msg}")

AGENT_REQUIRED = ["agent.id", "mqtt.uri", "mqtt.topics", "buffer.path", "uplink.hub", "metrics.listen"]
HUB_REQUIRED = ["hub.listen", "hub.shutdown_grace_ms", "kafka.bootstrap_servers", "kafka.default_topic", "metrics.listen"]
def get(d, dotted):
    for k in dotted.split("."):
        if not isinstance(d, dict) or k not in d: return None
        d = d[k]
    return d
os.makedirs(os.path.join(out, "configs"), exist_ok=True)
def dump_cfg(fname, key, mname, text):
    base = f"{fname[:-5]}--{mname}--{key}".replace("/", "_")
    with open(os.path.join(out, "configs", base), "w") as fh: fh.write(text.replace("__NODE_NAME__", "node-1"))
def check_cfg(where, text, required):
    try: cfg = yaml.safe_load(text)
    except yaml.YAMLError as e: err(where, f"embedded config is not YAML: {e}"); return None
    for k in required:
        if get(cfg, k) in (None, ""): err(where, f"embedded config lacks {k}")
    return cfg

def check_kafkatopic(where, d):
    if d.get("apiVersion") != "kafka.strimzi.io/v1beta2": err(where, "KafkaTopic apiVersion must be kafka.strimzi.io/v1beta2")
    if "strimzi.io/cluster" not in (get(d, "metadata.labels") or {}): err(where, "KafkaTopic needs label strimzi.io/cluster")
    spec = d.get("spec") or {}
    for k in ("partitions", "replicas"):
        if not isinstance(spec.get(k), int) or spec[k] < 1: err(where, f"spec.{k} must be a positive integer")
    unknown = set(spec) - {"partitions", "replicas", "config", "topicName"}
    if unknown: err(where, f"unknown spec fields {sorted(unknown)}")
    if not isinstance(spec.get("config", {}), dict): err(where, "spec.config must be a map")
    if "watermark" in (get(d, "metadata.name") or "") and (spec.get("config") or {}).get("cleanup.policy") != "compact":
        err(where, "the watermark topic must have cleanup.policy: compact")

def check_pod(where, spec, kind):
    ps = spec.get("securityContext") or {}
    for c in spec.get("initContainers") or []:
        cw = f"{where} initContainer {c['name']}"
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False: err(cw, "allowPrivilegeEscalation must be false")
        if "ALL" not in (get(sc, "capabilities.drop") or []): err(cw, "must drop ALL capabilities")
        if not get(c, "resources.limits"): err(cw, "no resource limits")
    for c in spec.get("containers") or []:
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or ps.get("runAsNonRoot")): err(cw, "not runAsNonRoot")
        if (sc.get("runAsUser", ps.get("runAsUser")) or 0) == 0: err(cw, "runs as uid 0")
        if sc.get("readOnlyRootFilesystem") is not True: err(cw, "readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False: err(cw, "allowPrivilegeEscalation must be false")
        if "ALL" not in (get(sc, "capabilities.drop") or []): err(cw, "must drop ALL capabilities")
        if not get(c, "resources.limits") or not get(c, "resources.requests"): err(cw, "needs resource requests and limits")
        if not c.get("livenessProbe") or not c.get("readinessProbe"): err(cw, "needs liveness and readiness probes")
        if c.get("image", "").endswith(":latest") or ":" not in c.get("image", ""): err(cw, "image needs a pinned tag")

for f in sorted(glob.glob(os.path.join(out, "*.yaml"))):
    name = os.path.basename(f)
    with open(f) as fh:
        docs = [d for d in yaml.safe_load_all(fh) if d]
    hub_grace, hub_cfg = {}, {}
    for d in docs:
        kind, mname = d.get("kind"), get(d, "metadata.name")
        where = f"{name} {kind}/{mname}"
        counted += 1
        if kind in skip_kinds:
            print(f"    skip schema (CRD, by name): {where}")
            if kind == "KafkaTopic": check_kafkatopic(where, d)
            continue
        for v in versions:
            try: kv.validate(d, v, strict=True)
            except kv.ValidationError as e: err(where, f"k8s {v}: {e.message} at {'.'.join(map(str, e.path))}")
            except kv.SchemaNotFoundError: err(where, f"k8s {v}: no schema for {d.get('apiVersion')} {kind}")
        if kind in ("Deployment", "DaemonSet", "StatefulSet"):
            spec = get(d, "spec.template.spec")
            check_pod(where, spec, kind)
            if kind in ("Deployment", "StatefulSet"): hub_grace[mname] = spec.get("terminationGracePeriodSeconds", 30)
        if kind == "ConfigMap":
            for key, text in (d.get("data") or {}).items():
                if key in ("edge-agent.yaml", "cloud-hub.yaml"): dump_cfg(name, key, mname, text)
                if key == "edge-agent.yaml": check_cfg(where, text, AGENT_REQUIRED)
                if key == "cloud-hub.yaml":
                    cfg = check_cfg(where, text, HUB_REQUIRED)
                    if cfg: hub_cfg[mname] = cfg
    # hub drain vs. grace period (same render)
    for dep, grace in hub_grace.items():
        for cm, cfg in hub_cfg.items():
            ms = get(cfg, "hub.shutdown_grace_ms") or 0
            if grace < ms / 1000.0: err(name, f"{dep} terminationGracePeriodSeconds {grace} < hub.shutdown_grace_ms {ms} ms")
    # exactly_once: a StatefulSet hub (stable transactional.id) and a config the hub accepts for it.
    for cm, cfg in hub_cfg.items():
        if get(cfg, "kafka.delivery") == "exactly_once":
            kinds = {get(d, "kind") for d in docs}
            if "StatefulSet" not in kinds or "Deployment" in kinds:
                err(name, f"ConfigMap/{cm} is exactly_once but the hub is not (only) a StatefulSet")
            if "HorizontalPodAutoscaler" in kinds: err(name, "exactly_once with an HPA (scale by hand: each step is a group rebalance)")
            if not get(cfg, "kafka.watermark_topic"): err(name, f"ConfigMap/{cm}: exactly_once without kafka.watermark_topic")
            # Several replicas redirect agents to each other: each must advertise its own address.
            sts = [d for d in docs if get(d, "kind") == "StatefulSet"]
            if any((get(d, "spec.replicas") or 1) > 1 for d in sts) and not get(cfg, "hub.advertise_address"):
                err(name, f"ConfigMap/{cm}: exactly_once with several replicas needs hub.advertise_address")
            if get(cfg, "hub.advertise_address") and not any(get(d, "kind") == "Service" and get(d, "spec.clusterIP") == "None" for d in docs):
                err(name, "exactly_once: hub.advertise_address without a headless Service for the replicas' names")
    print(f"    {name}: {len(docs)} objects")

with open(pkg_cfg) as fh: check_cfg(os.path.basename(pkg_cfg), fh.read(), AGENT_REQUIRED)
for e in errors: print("    ERROR " + e)
print(f"    {counted} objects checked, {len(errors)} errors")
sys.exit(1 if errors else 0)
PY

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
