#!/usr/bin/env python3
"""Helpers of bench/fleet/run.sh (issue #10 fleet benchmark).

fleet.py hubyaml BASE_YAML [EXTRA_YAML]   prints BASE deep-merged with EXTRA (the caller's keys win)
fleet.py kafka                            reads kcat -f '%h\\n' lines on stdin, prints JSON:
                                          records, distinct (agent, seq) pairs, duplicates, agents
fleet.py row N SAMPLES KAFKA SIM.json...  one result row (JSON) from the hub samples
                                          ("unix_s cpu_s threads rss_kib fds" lines), the Kafka count
                                          and the simulator outputs (several processes merged)
fleet.py table ROWS.jsonl                 Markdown table of the rows
fleet.py splice DOC TABLE_FILE            replaces the text between the fleet markers of DOC
"""
import json
import sys


def deep_merge(base, extra):
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for k, v in extra.items():
            out[k] = deep_merge(base[k], v) if k in base else v
        return out
    return extra


def hubyaml(base_file, extra_file=None):
    import yaml

    base = yaml.safe_load(open(base_file)) or {}
    if extra_file:
        extra = yaml.safe_load(open(extra_file)) or {}
        if not isinstance(extra, dict):
            sys.exit("fleet: FLEET_HUB_YAML must be a YAML mapping")
        base = deep_merge(base, extra)
    sys.stdout.write(yaml.safe_dump(base, default_flow_style=False, sort_keys=False))


def kafka():
    seen = set()
    records = 0
    agents = set()
    for line in sys.stdin:
        agent = seq = None
        for kv in line.rstrip("\n").split(","):
            k, _, v = kv.partition("=")
            if k == "edgesync-agent":
                agent = v
            elif k == "edgesync-seq":
                seq = v
        if agent is None or seq is None:
            continue
        records += 1
        agents.add(agent)
        seen.add((agent, int(seq)))
    print(json.dumps({"records": records, "distinct": len(seen),
                      "duplicates": records - len(seen), "agents": len(agents)}))


def pct_from_hist(hist, p):
    total = sum(hist.values())
    if total == 0:
        return None
    rank = p * (total - 1)
    acc = 0
    for ms in sorted(hist):
        acc += hist[ms]
        if acc > rank:
            return ms
    return max(hist)


def cpu_at(samples, t):
    """Hub CPU seconds at unix time t, interpolated between the 1 s samples."""
    prev = None
    for s in samples:
        if s[0] >= t:
            if prev is None:
                return s[1]
            a, b = prev, s
            return a[1] + (b[1] - a[1]) * (t - a[0]) / max(b[0] - a[0], 1e-9)
        prev = s
    return samples[-1][1] if samples else 0.0


def row(n, samples_file, kafka_file, sim_files):
    samples = []
    for line in open(samples_file):
        parts = line.split()
        if len(parts) >= 4:
            fds = int(parts[4]) if len(parts) > 4 else 0
            samples.append((float(parts[0]), float(parts[1]), int(parts[2]), int(parts[3]), fds))
    sims = [json.loads(open(f).read().strip().splitlines()[-1]) for f in sim_files]
    k = json.load(open(kafka_file))
    sum_keys = ["agents", "connections", "streams_welcomed", "welcomed_before_start",
                "batches_offered", "records_offered", "batches_sent", "records_sent",
                "batches_not_sent", "records_not_sent", "not_sent_window", "not_sent_slowdown",
                "not_sent_closed", "batches_write_failed", "batches_unwritten", "batches_acked",
                "records_acked", "acks", "slowdowns", "cpu_s", "max_rss_kib"]
    r = {"n": n, "sim_processes": len(sims)}
    for key in sum_keys:
        r[key] = sum(s[key] for s in sims)
    r["sim_max_rss_kib"] = max(s["max_rss_kib"] for s in sims)
    r["connect_s"] = max(s["connect_s"] for s in sims)
    hist = {}
    errors = {}
    for s in sims:
        for ms, c in s["ack_ms_hist"].items():
            hist[int(ms)] = hist.get(int(ms), 0) + c
        for code, c in s["stream_errors"].items():
            errors[code] = errors.get(code, 0) + c
    r["ack_ms_p50"] = pct_from_hist(hist, 0.50)
    r["ack_ms_p99"] = pct_from_hist(hist, 0.99)
    r["ack_ms_max"] = max((s["ack_ms_max"] for s in sims), default=0)
    r["stream_errors"] = errors
    t0 = min(s["measure_start_ms"] for s in sims) / 1000.0
    r["hub_threads_max"] = max((s[2] for s in samples), default=0)
    r["hub_rss_max_kib"] = max((s[3] for s in samples), default=0)
    r["hub_fds_max"] = max((s[4] for s in samples), default=0)
    r["hub_cpu_s"] = (samples[-1][1] - samples[0][1]) if samples else 0.0
    cpu_measured = (samples[-1][1] - cpu_at(samples, t0)) if samples else 0.0
    r["hub_cpu_measured_s"] = cpu_measured
    r["hub_us_per_acked_record"] = (cpu_measured * 1e6 / r["records_acked"]
                                    if r["records_acked"] else None)
    r["kafka_records"] = k["records"]
    r["kafka_duplicates"] = k["duplicates"]
    r["kafka_agents"] = k["agents"]
    print(json.dumps(r))


def fmt(v, spec="{:,}"):
    return "-" if v is None else spec.format(v)


def table(rows_file):
    rows = [json.loads(line) for line in open(rows_file) if line.strip()]
    print("| agents | conns | welcomed | hub threads / fds max | hub RSS max | hub CPU s | "
          "hub µs / acked record | ack p50 / p99 / max (ms) | batches offered / sent / not sent | "
          "records sent / acked / in Kafka | duplicates | stream errors | sim CPU s / RSS |")
    print("|" + "---|" * 13)
    for r in rows:
        if "aborted" in r:
            print("| {} | aborted: {} |".format(fmt(r["n"]), r["aborted"]) + " |" * 11)
            continue
        errs = ", ".join("%s %d" % (c, n) for c, n in sorted(r["stream_errors"].items())) or "0"
        print("| {n} | {conns} | {wel} | {thr} | {rss} | {cpu} | {us} | {p50} / {p99} / {mx} | "
              "{off} / {sent} / {ns} | {rs} / {ra} / {rk} | {dup} | {err} | {scpu} / {srss} |".format(
                  n=fmt(r["n"]), conns=fmt(r["connections"]), wel=fmt(r["streams_welcomed"]),
                  thr="%s / %s" % (fmt(r["hub_threads_max"]), fmt(r.get("hub_fds_max"))),
                  rss="%.0f MiB" % (r["hub_rss_max_kib"] / 1024.0),
                  cpu="%.1f" % r["hub_cpu_s"],
                  us=fmt(r["hub_us_per_acked_record"], "{:.1f}"),
                  p50=fmt(r["ack_ms_p50"]), p99=fmt(r["ack_ms_p99"]),
                  mx="%.0f" % r["ack_ms_max"],
                  off=fmt(r["batches_offered"]), sent=fmt(r["batches_sent"]),
                  ns=fmt(r["batches_not_sent"]),
                  rs=fmt(r["records_sent"]), ra=fmt(r["records_acked"]),
                  rk=fmt(r["kafka_records"]), dup=fmt(r["kafka_duplicates"]), err=errs,
                  scpu="%.1f" % r["cpu_s"],
                  srss="%.0f MiB" % (r["max_rss_kib"] / 1024.0)))


def splice(doc, table_file):
    begin, end = "<!-- fleet:begin -->", "<!-- fleet:end -->"
    text = open(doc).read()
    body = open(table_file).read().strip()
    if begin not in text or end not in text:
        sys.exit("fleet: %s has no %s ... %s markers" % (doc, begin, end))
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    open(doc, "w").write(head + begin + "\n" + body + "\n" + end + tail)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "hubyaml":
        hubyaml(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif cmd == "kafka":
        kafka()
    elif cmd == "row":
        row(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:])
    elif cmd == "table":
        table(sys.argv[2])
    elif cmd == "splice":
        splice(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
