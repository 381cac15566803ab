"""Helpers of the bench scripts (the Python they need, kept out of bash).

records.py kcat-input --count N --devices D --size S   key<TAB>payload lines for `kcat -P -K '\t'`,
    the simulator's payloads (tools/sensor-sim/payload.hpp), same keys and sizes as the agent sends
records.py latency                                     reads `%T %s` lines (Kafka timestamp ms,
    stamped payload) and prints p50 p99 max (ms) and the count
records.py visible N TIMEOUT_S CMD...                runs the consumer CMD (stamped payloads, one a
    line, unbuffered) and prints p50 p99 max (ms) of arrival - publish for its first N lines, and N
records.py splice DOC TABLE [NAME]                     replaces the text between the NAME markers
    (<!-- NAME:begin --> ... <!-- NAME:end -->, default "bench") with the file TABLE
records.py p7-raw SIZE COUNT                           mean payload + topic bytes of what sensor-sim
    publishes to p7/ (SIZE as --size, or "stamp"; COUNT per device, 10 devices)
records.py p7-table                                    the P7 table from bench/p7_wire.sh's rows (stdin)
records.py rusage-run OUT CMD...                       runs CMD, then writes the bytes it wrote over its
    whole life (getrusage RUSAGE_CHILDREN ru_oublock x 512 = /proc write_bytes) to the file OUT
"""
import resource
import subprocess
import re
import sys
import time


def payload_for(device: str, n: int, size: int) -> str:
    s = '{"d":"%s","n":%d,"v":%.1f,"p":"' % (device, n, (n % 500) / 10.0 + 10.0)
    i = 0
    while len(s) + 2 < size:
        s += chr(ord("a") + (n + i) % 26)
        i += 1
    return s + '"}'


def kcat_input(count: int, devices: int, size: int) -> None:
    out = sys.stdout
    names = ["dev-%04d" % d for d in range(devices)]
    for i in range(count):
        dev = names[i % devices]
        out.write(dev + "\t" + payload_for(dev, i // devices, size) + "\n")


def print_percentiles(lat: list) -> None:
    """p50 p99 max (ms) and the count, or "- - - 0" when there is nothing."""
    if not lat:
        print("- - - 0")
        return
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print("%.1f %.1f %.1f %d" % (pick(0.50), pick(0.99), lat[-1], len(lat)))


def latency() -> None:
    lat = []
    for line in sys.stdin:
        m = re.match(r'(\d+) \{"t":(\d+),', line)
        if m:
            lat.append(int(m.group(1)) - int(m.group(2)) / 1e6)
    print_percentiles(lat)


def visible(n: int, timeout_s: float, cmd: list) -> None:
    """Runs the consumer `cmd` (printing one stamped payload per line, unbuffered) and takes, for
    its first n lines, the time a line arrives here minus the payload's publish stamp; stops the
    consumer after n lines or timeout_s. Prints p50 p99 max (ms) and the count."""
    import select
    import subprocess
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    lat, buf = [], b""
    deadline = time.time() + timeout_s
    while len(lat) < n and time.time() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if not ready:
            continue
        chunk = proc.stdout.read1(65536)
        arrived = time.time_ns()
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            m = re.match(rb'\{"t":(\d+),', line)
            if m:
                lat.append((arrived - int(m.group(1))) / 1e6)
    proc.kill()
    proc.wait()
    print_percentiles(lat)


def splice(doc: str, table_file: str, name: str = "bench") -> None:
    begin, end = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
    text = open(doc).read()
    table = open(table_file).read().strip()
    if begin not in text or end not in text:
        sys.exit("bench: %s has no %s ... %s markers" % (doc, begin, end))
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    open(doc, "w").write(head + begin + "\n" + table + "\n" + end + tail)


def p7_raw(size_arg: str, count: int) -> None:
    stamp = size_arg == "stamp"
    size = 0 if stamp else int(size_arg)
    total = 0
    for d in range(10):
        dev = "dev-%04d" % d
        for n in range(count):
            head = '{"d":"%s","n":%d,"v":%.1f,"p":"' % (dev, n, (n % 500) / 10.0 + 10.0)
            total += max(len(head) + 2, size) + len("p7/%s/data" % dev)
            total += len('{"t":1764000000000000000,') - 1 if stamp else 0
    print("%.1f" % (total / (10 * count)))


def p7_table() -> None:
    """Ratios against the raw bytes, agent CPU against compression none at the same size/batch."""
    rows = [line.split() for line in sys.stdin if line.strip()]
    base = {}
    for size, codec, level, batch, key, raw, wire, ac0, ac1, hc0, hc1, n in rows:
        if codec == "none":
            base[(size, key)] = (float(ac1) - float(ac0)) * 1e6 / int(n)
    print("| payload (sensor-sim --size) | compression | records/batch | raw B/record (payload + topic)"
          " | wire B/record (TCP) | wire / raw | agent CPU us/record | vs none | hub CPU us/record |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, codec, level, batch, key, raw, wire, ac0, ac1, hc0, hc1, n in rows:
        n = int(n)
        w = int(wire) / n
        a = (float(ac1) - float(ac0)) * 1e6 / n
        h = (float(hc1) - float(hc0)) * 1e6 / n
        b = base.get((size, key))
        vs = "%+.0f %%" % ((a / b - 1) * 100) if b and codec != "none" else "-"
        name = codec + (" (level %s)" % level if codec == "zstd" else "")
        print("| %s | %s | %s | %.1f | %.1f | %.3f | %.2f | %s | %.2f |" % (
            size, name, batch.replace("-", " ").replace(",", ", "), float(raw), w, w / float(raw),
            a, vs, h))


def rusage_run(out: str, cmd: list) -> None:
    subprocess.run(cmd)
    with open(out, "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock * 512))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "kcat-input":
        args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
        kcat_input(int(args["--count"]), int(args["--devices"]), int(args["--size"]))
    elif cmd == "latency":
        latency()
    elif cmd == "visible":
        visible(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:])
    elif cmd == "splice":
        splice(*sys.argv[2:5])
    elif cmd == "p7-raw":
        p7_raw(sys.argv[2], int(sys.argv[3]))
    elif cmd == "p7-table":
        p7_table()
    elif cmd == "rusage-run":
        rusage_run(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
