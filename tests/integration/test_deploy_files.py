"""Deploy files cannot rot: the Prometheus rules pass promtool (syntax and their unit
tests), the Grafana dashboard is valid JSON whose queries are valid PromQL, and between
them they watch every metric of SPEC.md "Counters" and use no metric the gateway lacks.
The keepalived examples pass `keepalived -t`, omsgw-vrrp passes `sh -n` (and shellcheck
when installed) and writes omsgw-style event lines, and the handoff's waits fit in the
unit's stop budget. (test_vrrp.py runs the two-node configuration for real.)
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE_DIR = Path(os.environ.get("OMSGW_SOURCE_DIR", Path(__file__).resolve().parents[2]))
RULES = SOURCE_DIR / "deploy" / "prometheus" / "omsgw-rules.yml"
RULES_TEST = SOURCE_DIR / "deploy" / "prometheus" / "omsgw-rules.test.yml"
DASHBOARD = SOURCE_DIR / "deploy" / "grafana" / "omsgw.json"
KEEPALIVED = SOURCE_DIR / "deploy" / "keepalived"
UNIT = SOURCE_DIR / "deploy" / "systemd" / "omsgw.service"

# SPEC.md is the product contract; it may live beside the tree rather than in it.
SPEC_CANDIDATES = [Path(p) for p in [os.environ.get("OMSGW_SPEC", "")] if p] + [
    SOURCE_DIR / "SPEC.md",
    SOURCE_DIR / "docs" / "SPEC.md",
    SOURCE_DIR.parent / "shared" / "SPEC.md",
]
# The names SPEC.md "Counters" lists (and omsgw_report_would_deny_total, from "Behaviour
# on the wire"), used only when SPEC.md cannot be found.
FALLBACK_COUNTERS = {
    "omsgw_active_client_connections", "omsgw_connected_clients", "omsgw_errors_total",
    "omsgw_rejections_total", "omsgw_connect_requests_total", "omsgw_bytes_total",
    "omsgw_connect_duration_seconds", "omsgw_tunnel_duration_seconds",
    "omsgw_config_reloads_total", "omsgw_relay_connects_total", "omsgw_relay_up",
    "omsgw_build_info",
}
FALLBACK_ALL = FALLBACK_COUNTERS | {"omsgw_report_would_deny_total"}
NOT_WATCHED = {"omsgw_build_info"}  # an info metric: nothing to chart or alert on

METRIC_RE = re.compile(r"\bomsgw_[a-z0-9_]*[a-z0-9]")
HISTOGRAM_SUFFIX_RE = re.compile(r"_(bucket|sum|count)$")


def promtool():
    path = shutil.which("promtool") or "/usr/bin/promtool"
    if not os.access(path, os.X_OK):
        pytest.fail("promtool not found: install the Debian `prometheus` package "
                    "(scripts/setup-deps)")
    return path


def run(*args, cwd=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=cwd)


def spec_text():
    for p in SPEC_CANDIDATES:
        if p.is_file():
            return p.read_text(encoding="utf-8")
    return None


def spec_counters():
    """Metric names in SPEC.md's "## Counters" section."""
    text = spec_text()
    if text is None:
        return FALLBACK_COUNTERS
    m = re.search(r"^## Counters\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, "SPEC.md has no '## Counters' section"
    names = set(METRIC_RE.findall(m.group(1)))
    assert names, "no omsgw_* metric found in SPEC.md 'Counters'"
    return names


def spec_metrics():
    """Every omsgw_* metric SPEC.md names anywhere."""
    text = spec_text()
    return FALLBACK_ALL if text is None else set(METRIC_RE.findall(text))


def dashboard():
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def dashboard_exprs():
    d = dashboard()
    exprs = [t["expr"] for p in all_panels(d["panels"]) for t in p.get("targets", [])]
    for var in d["templating"]["list"]:
        q = var.get("query")
        exprs.append(q["query"] if isinstance(q, dict) else q or "")
    return exprs


def rule_exprs():
    """The PromQL of every rule: single-line `expr: X` and block `expr: |` forms."""
    lines = RULES.read_text(encoding="utf-8").splitlines()
    exprs = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if not m:
            continue
        if m.group(2) not in ("|", ">", "|-", ">-"):
            exprs.append(m.group(2))
            continue
        indent, block = len(m.group(1)), []
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            block.append(nxt.strip())
        exprs.append(" ".join(block))
    return exprs


def base_metric(name):
    return HISTOGRAM_SUFFIX_RE.sub("", name)


def test_rules_pass_promtool_check():
    r = run(promtool(), "check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_rules_unit_tests_pass():
    # rule_files in the test file are relative to it.
    r = run(promtool(), "test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_has_a_firing_and_a_quiet_case():
    alerts = re.findall(r"^\s*-\s*alert:\s*(\S+)", RULES.read_text(), re.M)
    assert set(alerts) >= {"OmsgwDown", "OmsgwRejectionSpike", "OmsgwErrorRate",
                           "OmsgwNearCapacity", "OmsgwConfigReloadFailed"}
    # Each alert_rule_test entry: alertname, then exp_alerts: [] (quiet) or a list.
    cases = re.findall(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:\s*(\[\])?",
                       RULES_TEST.read_text())
    for alert in alerts:
        kinds = {bool(empty) for name, empty in cases if name == alert}
        assert kinds == {True, False}, f"{alert}: needs a firing and a quiet test case"


def test_dashboard_parses_with_json_tool():
    r = run(sys.executable, "-m", "json.tool", str(DASHBOARD))
    assert r.returncode == 0, r.stderr


def test_dashboard_uses_the_datasource_input_and_instance_variable():
    d = dashboard()
    assert [i["name"] for i in d["__inputs"]] == ["DS_PROMETHEUS"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert "instance" in variables
    panels = [p for p in all_panels(d["panels"]) if p["type"] != "row"]
    assert len({p["id"] for p in all_panels(d["panels"])}) == len(list(all_panels(d["panels"])))
    for p in panels:
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert 'instance=~"$instance"' in t["expr"], f'{p["title"]}: {t["expr"]}'


def test_dashboard_queries_are_valid_promql(tmp_path):
    # promtool has no PromQL-only check: wrap each query, with Grafana's variables
    # filled in, as a recording rule.
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for i, e in enumerate(dashboard_exprs()):
        if e.startswith("label_values("):
            continue  # a Grafana function, not PromQL
        e = e.replace("$__rate_interval", "5m").replace("$__range", "1h")
        e = e.replace("$instance", ".*")
        rules += [f"      - record: dashboard:query_{i}", f"        expr: {json.dumps(e)}"]
    f = tmp_path / "dashboard-queries.yml"
    f.write_text("\n".join(rules) + "\n")
    r = run(promtool(), "check", "rules", str(f))
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_spec_counter_is_charted_or_alerted_on():
    used = " ".join(dashboard_exprs() + rule_exprs())
    missing = []
    for name in sorted(spec_counters() - NOT_WATCHED):
        if not re.search(rf"\b{re.escape(name)}(_bucket|_sum|_count)?\b", used):
            missing.append(name)
    assert not missing, f"SPEC.md counters in neither the dashboard nor the rules: {missing}"


def test_no_query_names_a_metric_the_spec_lacks():
    known = spec_metrics()
    used = {base_metric(n) for e in dashboard_exprs() + rule_exprs() for n in METRIC_RE.findall(e)}
    unknown = sorted(used - known)
    assert not unknown, f"metrics not in SPEC.md (typo or undocumented): {unknown}"


def tool(name):
    path = shutil.which(name) or f"/usr/sbin/{name}"
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found: install the Debian `{name}` package (scripts/setup-deps)")
    return path


@pytest.mark.parametrize("conf", ["keepalived.conf", "haproxy-pair/keepalived.conf"])
def test_keepalived_examples_pass_keepalived_config_test(conf):
    r = run(tool("keepalived"), "-t", "-f", str(KEEPALIVED / conf))
    assert r.returncode == 0, r.stdout + r.stderr


def test_omsgw_vrrp_script_is_valid_shell():
    script = str(KEEPALIVED / "omsgw-vrrp")
    assert os.access(script, os.X_OK), "omsgw-vrrp must be executable"
    r = run("sh", "-n", script)
    assert r.returncode == 0, r.stderr
    if shutil.which("shellcheck"):
        r = run("shellcheck", script)
        assert r.returncode == 0, r.stdout + r.stderr


def test_omsgw_vrrp_notify_writes_an_omsgw_style_event_line(tmp_path):
    log = tmp_path / "events.log"
    r = run(str(KEEPALIVED / "omsgw-vrrp"), "notify", "--log", str(log),
            "INSTANCE", "omsgw", "FAULT", "150")
    assert r.returncode == 0, r.stderr
    line = log.read_text().strip()
    assert line == r.stderr.strip()
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warn event_id=100 '
                        r'vrrp_instance=omsgw state=FAULT priority=150 '
                        r'msg="keepalived: omsgw is now FAULT on [^"]+"', line), line
    assert run(str(KEEPALIVED / "omsgw-vrrp"), "bogus").returncode == 2


def test_handoff_waits_fit_in_the_units_stop_budget():
    """ExecStop (the handoff) gets TimeoutStopSec; the drain after it gets it again."""
    stop_s = int(re.search(r"^TimeoutStopSec=(\d+)$", UNIT.read_text(), re.M).group(1))
    env = dict(re.findall(r"^(OMSGW_VRRP_\w+)=(\S+)$",
                          (KEEPALIVED / "omsgw-vrrp.default").read_text(), re.M))
    assert int(env["OMSGW_VRRP_TUNNEL_WAIT_S"]) + int(env["OMSGW_VRRP_MOVE_WAIT_S"]) < stop_s
    dropin = (KEEPALIVED / "omsgw-vrrp.conf").read_text()
    assert "ExecStop=+/usr/local/sbin/omsgw-vrrp handoff" in dropin
    assert "ExecStopPost=+/usr/local/sbin/omsgw-vrrp handoff" in dropin  # crashes skip ExecStop
    assert "ExecStartPost=+/usr/local/sbin/omsgw-vrrp resume" in dropin


def test_vrrp_dropin_passes_systemd_analyze_verify_with_the_unit(tmp_path):
    """The unit plus the drop-in, with the paths pointed at this tree's files (the
    binary's path is the unit's business: /usr/bin/true stands in for it)."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.fail("systemd-analyze not found: install the Debian `systemd` package "
                    "(scripts/setup-deps)")
    (tmp_path / "omsgw.service").write_text(
        UNIT.read_text().replace("ExecStart=/usr/bin/omsgw", "ExecStart=/usr/bin/true"))
    dropin_dir = tmp_path / "omsgw.service.d"
    dropin_dir.mkdir()
    (dropin_dir / "omsgw-vrrp.conf").write_text(
        (KEEPALIVED / "omsgw-vrrp.conf").read_text()
        .replace("/usr/local/sbin/omsgw-vrrp", str(KEEPALIVED / "omsgw-vrrp"))
        .replace("/etc/default/omsgw-vrrp", str(KEEPALIVED / "omsgw-vrrp.default")))
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"}
    r = subprocess.run([analyze, "verify", str(tmp_path / "omsgw.service")],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr
