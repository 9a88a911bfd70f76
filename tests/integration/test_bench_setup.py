"""scripts/bench-setup: HAProxy and omsgw, alternating rate rounds, ratios per round
(issue 14's floor measured on a drifting VM). A short real run: both proxies carry
tunnels, every round has its row, and the medians line adds up."""
import os
import re
import subprocess

from gwtest import SOURCE_DIR


def test_bench_setup_alternates_rounds_and_reports_per_round_ratios(tmp_path):
    out = tmp_path / "setup.md"
    build = os.environ.get("OMSGW_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
    r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "bench-setup"), "--rounds", "2",
                        "--seconds", "0.5", "--no-settle", "--build-dir", build,
                        "--out", str(out)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    text = out.read_text()
    rows = [l for l in text.splitlines() if re.match(r"\| [12] \|", l)]
    assert len(rows) == 2, text
    ratios = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        haproxy = [float(x.replace(",", "")) for x in cells[1].split(", ")]
        omsgw = [float(x.replace(",", "")) for x in cells[2].split(", ")]
        assert haproxy[0] > 0 and omsgw[0] > 0, row  # both carried tunnels
        assert haproxy[1] > 0 and omsgw[1] > 0, row  # and their CPU was measured
        ratios.append(omsgw[0] / haproxy[0])
    m = re.search(r"set-ups/s ([\d.]+)×.*?(\d+) errors", text)
    assert m, text
    assert abs(float(m.group(1)) - sum(ratios) / 2) < 0.01  # the median of two
    assert m.group(2) == "0"


def test_bench_agents_alternates_rounds_against_squid(tmp_path):
    """scripts/bench-agents: Squid and omsgw carry agent POSTs in every round, each with its
    CPU per GB measured, and the medians line is the median of the rows' ratios."""
    out = tmp_path / "agents.md"
    build = os.environ.get("OMSGW_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
    r = subprocess.run([os.path.join(SOURCE_DIR, "scripts", "bench-agents"), "--rounds", "3",
                        "--seconds", "3", "--agents", "120", "--period", "0.5", "--no-settle",
                        "--build-dir", build, "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    text = out.read_text()
    assert "120 agents" in text, text
    rows = [l for l in text.splitlines() if re.match(r"\| [123] \|", l)]
    assert len(rows) == 3, text
    ratios = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        squid = [float(x) for x in cells[1].split(", ")]
        omsgw = [float(x) for x in cells[2].split(", ")]
        assert squid[0] > 0 and omsgw[0] > 0, row  # both relayed and were measured
        assert squid[1] > 0 and omsgw[1] > 0, row  # POSTs completed
        ratios.append(omsgw[0] / squid[0])
    m = re.search(r"CPU-s per GB ([\d.]+)×.*?(\d+) errors", text)
    assert m, text
    assert abs(float(m.group(1)) - sorted(ratios)[1]) < 0.01  # the median of three
    assert m.group(2) == "0"
