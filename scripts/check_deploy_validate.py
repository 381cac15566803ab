"""Step 4 of scripts/check-deploy.sh: every rendered object against the Kubernetes schemas
(kubernetes-validate, strict), and the embedded edge-agent / cloud-hub configs for required keys.
  check_deploy_validate.py OUT_DIR "KUBE_VERSIONS" "SKIP_KINDS" PACKAGED_AGENT_CONFIG
Runs in the venv check-deploy.sh sets up (it needs kubernetes_validate and yaml).
"""
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
