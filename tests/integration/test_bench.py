"""scripts/bench --quick: every target of the README's table (no proxy, Squid, Tinyproxy,
both HAProxy baselines, omsgw) really carries load in every mode it runs, each proxy's CPU
is measured, and the targets' verdict lines agree with the table's "met" column. A smoke
run: its figures are not asserted, only that every one of them was produced."""
import json
import os
import re
import subprocess

from gwtest import SOURCE_DIR

PROXIES = ["Squid", "Tinyproxy", "HAProxy TCP", "HAProxy TCP, upstream closes first", "omsgw"]
COLUMNS = ["direct"] + PROXIES


def parse_table(text):
    """{metric: {column: cell}} plus each row's target and met cells."""
    header = next(l for l in text.splitlines() if l.startswith("| metric |"))
    names = [c.strip() for c in header.strip("|").split("|")]
    rows = {}
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| metric") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(names, cells))
    return rows


def number(cell):
    return float(cell.replace(",", ""))


def test_quick_bench_measures_every_target_and_states_the_verdicts(tmp_path):
    out = tmp_path / "results.md"
    build = os.environ.get("OMSGW_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
    r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "bench"), "--quick",
                        "--build-dir", build, "--out", str(out)],
                       capture_output=True, text=True, timeout=420)
    assert r.returncode == 0, r.stderr[-3000:]
    text = out.read_text()
    rows = parse_table(text)

    for col in COLUMNS:  # the rate mode runs for every target
        assert number(rows["Tunnel set-ups per second"][col]) > 0, col
    for col in PROXIES:  # and each proxy's CPU was sampled
        assert number(rows["Proxy CPU per set-up (µs)"][col]) > 0, col
    for col in ["direct", "Squid", "Tinyproxy", "omsgw"]:  # the other modes
        assert number(rows["Idle tunnels held"][col]) == 1000, col
        assert rows["Idle: errors (incl. closing request)"][col] == "0", col
        agents = next(m for m in rows if m.endswith("agents up"))
        head = agents[: -len(": agents up")]
        assert number(rows[agents][col]) > 0, col
        assert rows[f"{head}: errors"][col] == "0", col
        assert number(rows[f"{head}: POSTs/s"][col]) > 0, col
    for col in ["Squid", "Tinyproxy", "omsgw"]:
        assert number(rows["RSS per idle tunnel (KB)"][col]) > 0, col
        many = next(m for m in rows if m.startswith("Bulk relay CPU") and "16 tunnels" in m)
        assert number(rows[many][col]) > 0, col
    for col in ["HAProxy TCP", "HAProxy TCP, upstream closes first"]:  # set-up floor only
        assert rows["Idle tunnels held"].get(col) == "—", col

    # One verdict line per issue, counting exactly the table's "met" cells of its targets.
    verdicts = dict(re.findall(r"^Targets of (issue \d+): (\d+ of \d+) met", text, re.M))
    assert "issue 14" in verdicts, text
    for issue, count in verdicts.items():
        marked = [row for row in rows.values() if row["target"].endswith(f"({issue})")]
        met = sum(1 for row in marked if row["met"] == "yes")
        assert count == f"{met} of {len(marked)}", (issue, count)
    assert int(verdicts["issue 14"].split(" of ")[1]) == 7  # every Done-when target

    raw = json.loads((tmp_path / "results.json").read_text())
    assert raw["profile"] == "quick"
    assert set(raw["results"]) == {"direct", "squid", "tinyproxy", "haproxy",
                                   "haproxy-upclose", "omsgw"}
