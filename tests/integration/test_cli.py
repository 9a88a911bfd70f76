"""The management CLI against the real binary: every changing command reaches a
RUNNING gateway without a restart (inotify, or `omsgw reload`), tunnels opened before
the change keep relaying, edits keep comments, refuse invalid results, and survive
concurrent writers; read commands print what an operator needs and never a secret."""
import os
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gwtest import (BIN, EchoServer, Gateway, base_config, free_port, proxy_connect)

# A CLI change must be live this soon (the service debounces file events for 300 ms;
# the margin is for a loaded CI machine: this is a behaviour test, not a timing one).
LIVE_S = 5.0
WE_JOB = "we-jobruntimedata-prod-su1.azure-automation.net"
WE_AGENT = "we-agentservice-prod-1.azure-automation.net"


def omsgw(*args, config=None):
    cmd = [BIN, *args] + (["--config", config] if config else [])
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)


def ok(*args, config=None):
    p = omsgw(*args, config=config)
    assert p.returncode == 0, f"{args}: rc={p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def wait_until(predicate, timeout=LIVE_S, what="condition", gw=None):
    deadline = time.time() + timeout
    while True:
        if predicate():
            return
        if time.time() >= deadline:
            log = f"\ngateway log:\n{gw.text()[-6000:]}" if gw else ""
            raise AssertionError(f"{what} not reached within {timeout}s{log}")
        time.sleep(0.05)


def connect_status(gw, target):
    s, status, _ = proxy_connect(gw.host, gw.port, target, timeout=5)
    s.close()
    return status


def echo_roundtrip(sock, payload):
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


@pytest.fixture
def echo():
    e = EchoServer(mode="halfclose")
    yield e
    e.stop()


@pytest.fixture
def gateway(tmp_path, echo):
    cfg = base_config(free_port(), allowed_ports=[echo.port],
                      upstream={"resolve": {"allowed.test": "127.0.0.1",
                                            "other.test": "127.0.0.1",
                                            WE_JOB: "127.0.0.1"}})
    gw = Gateway(str(tmp_path / "gw"), cfg)
    yield gw
    gw.stop()


def add_comments(gw):
    """Puts comments a person might write into the running gateway's file and waits
    until the service has loaded it."""
    before = ok("status", config=gw.config_path)
    with open(gw.config_path) as f:
        text = f.read()
    text = ("# omsgw for the DMZ -- owned by the platform team\n" + text
            .replace("allowed_hosts:\n", "allowed_hosts:   # reviewed quarterly\n")
            + "# end of file note\n")
    tmp = gw.config_path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, gw.config_path)
    wait_until(lambda: version_line(ok("status", config=gw.config_path)) != version_line(before),
               what="reload of the commented file")
    return text


def version_line(status_text):
    return next(l for l in status_text.splitlines() if l.startswith("configuration"))


COMMENTS = ("# omsgw for the DMZ -- owned by the platform team",
            "allowed_hosts:   # reviewed quarterly", "# end of file note")


def assert_comments_kept(path):
    with open(path) as f:
        text = f.read()
    for c in COMMENTS:
        assert c in text, f"comment {c!r} lost:\n{text}"


def test_allowed_host_add_and_remove_apply_live_and_keep_old_tunnels(gateway, echo):
    gw = gateway
    add_comments(gw)
    tunnel, status, _ = proxy_connect(gw.host, gw.port, f"allowed.test:{echo.port}")
    assert status == 200
    try:
        assert echo_roundtrip(tunnel, b"before") == b"before"
        assert connect_status(gw, f"other.test:{echo.port}") == 403

        assert "added" in ok("allowed-host", "add", "Other.Test", config=gw.config_path)
        wait_until(lambda: connect_status(gw, f"other.test:{echo.port}") == 200,
                   what="other.test allowed", gw=gw)
        assert echo_roundtrip(tunnel, b"after add") == b"after add"
        assert "other.test" in ok("allowed-host", "list", config=gw.config_path).split()

        # --config before the command word works as well.
        ok("--config", gw.config_path, "allowed-host", "remove", "other.test")
        wait_until(lambda: connect_status(gw, f"other.test:{echo.port}") == 403,
                   what="other.test refused again", gw=gw)
        assert echo_roundtrip(tunnel, b"after remove") == b"after remove"
        assert_comments_kept(gw.config_path)
    finally:
        tunnel.close()
    r = omsgw("allowed-host", "remove", "other.test", config=gw.config_path)
    assert r.returncode == 1 and "not an allowed host" in r.stderr


def test_config_set_applies_live_with_oms_aliases(gateway, echo):
    gw = gateway
    add_comments(gw)
    tunnel, status, _ = proxy_connect(gw.host, gw.port, f"allowed.test:{echo.port}")
    assert status == 200
    try:
        # Mode (alias of `mode`): report lets a not-allowed host through.
        ok("config", "set", "Mode", "Report", config=gw.config_path)
        wait_until(lambda: connect_status(gw, f"other.test:{echo.port}") == 200,
                   what="report mode")
        ok("config", "set", "mode", "enforce", config=gw.config_path)
        wait_until(lambda: connect_status(gw, f"other.test:{echo.port}") == 403,
                   what="enforce mode")
        # AllowedPorts: the echo port leaves the list, new CONNECTs to it are refused.
        ok("config", "set", "AllowedPorts", "443,8443", config=gw.config_path)
        wait_until(lambda: connect_status(gw, f"allowed.test:{echo.port}") == 403,
                   what="port removed")
        assert echo_roundtrip(tunnel, b"still here") == b"still here"
        ok("config", "set", "allowed_ports", str(echo.port), config=gw.config_path)
        wait_until(lambda: connect_status(gw, f"allowed.test:{echo.port}") == 200,
                   what="port back")
        # A key that needs a restart is written, and the service says so.
        port_before = ok("config", "get", "ListenPort", config=gw.config_path).strip()
        assert port_before == str(gw.port)
        out = ok("config", "set", "listen.port", str(free_port()), config=gw.config_path)
        assert "restart" in out
        gw.wait_event(100, "take effect at the next restart")
        assert connect_status(gw, f"allowed.test:{echo.port}") == 200  # still on the old port
        assert echo_roundtrip(tunnel, b"end") == b"end"
        assert_comments_kept(gw.config_path)
    finally:
        tunnel.close()


def test_automation_region_adds_derived_hosts_live(gateway, echo):
    gw = gateway
    assert connect_status(gw, f"{WE_JOB}:{echo.port}") == 403
    ok("config", "set", "AutomationRegions", "West Europe", config=gw.config_path)
    wait_until(lambda: connect_status(gw, f"{WE_JOB}:{echo.port}") == 200,
               what="derived automation host allowed")
    configured = ok("allowed-host", "list", config=gw.config_path).split()
    assert WE_JOB not in configured
    listing = ok("allowed-host", "list", "--all", config=gw.config_path)
    rows = {l.split()[0]: l.split()[1:] for l in listing.splitlines()[1:]}
    assert rows[WE_JOB] == ["automation_region", "westeurope"]
    assert rows[WE_AGENT] == ["automation_region", "westeurope"]
    assert rows["allowed.test"] == ["configured"]
    r = omsgw("allowed-host", "remove", WE_JOB, config=gw.config_path)
    assert r.returncode == 1 and "automation_region westeurope" in r.stderr


def test_reload_command_applies_a_hand_edit_and_reports_failures(gateway, echo):
    gw = gateway
    out = ok("reload", config=gw.config_path)
    assert "reloaded" in out and "version" in out
    # A hand edit followed by `omsgw reload` is live when the command returns.
    with open(gw.config_path) as f:
        text = f.read()
    tmp = gw.config_path + ".new"
    with open(tmp, "w") as f:
        f.write(text.replace('  - "allowed.test"', '  - "allowed.test"\n  - "other.test"'))
    os.replace(tmp, gw.config_path)
    ok("reload", config=gw.config_path)
    assert connect_status(gw, f"other.test:{echo.port}") == 200
    # A broken file: reload fails with the located error, the service keeps running.
    with open(tmp, "w") as f:
        f.write(text + "mode: sometimes\n")
    os.replace(tmp, gw.config_path)
    r = omsgw("reload", config=gw.config_path)
    assert r.returncode == 1
    assert "reload refused" in r.stderr and "mode: expected one of enforce|report" in r.stderr
    assert connect_status(gw, f"other.test:{echo.port}") == 200


def test_reload_and_status_fail_cleanly_without_a_service(tmp_path):
    path = str(tmp_path / "omsgw.yaml")
    with open(path, "w") as f:
        f.write(f"admin: {{address: 127.0.0.1, port: {free_port()}}}\n")
    for cmd in ("reload", "status"):
        r = omsgw(cmd, config=path)
        assert r.returncode == 1 and r.stdout == ""
        assert "cannot reach the admin endpoint" in r.stderr


def test_status_prints_the_oms_figures(gateway, echo):
    gw = gateway
    assert connect_status(gw, f"allowed.test:{echo.port}") == 200
    assert connect_status(gw, f"nope.test:{echo.port}") == 403
    out = ok("status", config=gw.config_path)
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition("  ")
        fields[key.strip()] = value.strip()
    for key in ("version", "uptime", "configuration", "mode", "relay proxy",
                "Active Client Connection", "Connected Client", "Error Count", "Rejection Count"):
        assert key in fields, out
    assert fields["mode"] == "enforce"
    assert fields["relay proxy"] == "direct"
    assert fields["configuration"].startswith("version 1, hash ")
    assert int(fields["Rejection Count"]) >= 1
    assert int(fields["CONNECT requests"]) >= 2


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def test_invalid_change_is_refused_and_the_file_is_untouched(tmp_path):
    path = str(tmp_path / "omsgw.yaml")
    text = "# note\nlisten:\n  port: 8080  # agents\nallowed_hosts: [a.example.com]\n"
    write(path, text, 0o640)
    before = os.stat(path)
    for args in (("config", "set", "ListenPort", "70000"),
                 ("config", "set", "limits.idle_timeout_s", "soon"),
                 ("config", "set", "tls.min_version", "1.7"),
                 ("config", "set", "listen.nonsense", "1"),
                 ("allowed-host", "add", "bad host!"),
                 ("allowed-host", "add", "*")):
        r = omsgw(*args, config=path)
        assert r.returncode == 1, args
        assert r.stderr and r.stdout == "", args
        with open(path) as f:
            assert f.read() == text, args
    r = omsgw("config", "set", "ListenPort", "70000", config=path)
    assert f"{path}:3:" in r.stderr and "listen.port" in r.stderr
    assert "unchanged" in r.stderr
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not [n for n in os.listdir(tmp_path) if n not in ("omsgw.yaml", "omsgw.yaml.lock")]


def test_comments_survive_add_remove_and_set(tmp_path):
    path = str(tmp_path / "omsgw.yaml")
    text = ("# Gateway for site B -- ask ops before changing\n"
            "listen:\n"
            "  address: 127.0.0.1   # loopback for now\n"
            "  port: 8080 # agents use this\n"
            "allowed_hosts:\n"
            "  # Log Analytics\n"
            "  - \"*.ods.opinsights.azure.com\"  # ingestion\n"
            "  - a.example.com\n"
            "allowed_client_certificates: []   # not enforced yet\n"
            "# trailing comment\n")
    write(path, text, 0o640)
    ok("allowed-host", "add", "b.example.com", config=path)
    ok("allowed-host", "remove", "a.example.com", config=path)
    ok("config", "set", "ListenPort", "9090", config=path)
    ok("config", "set", "IdleTimeout", "120", config=path)
    ok("allowed-client-cert", "add", "CN=agent01, O=Contoso", config=path)
    ok("config", "set", "MinTlsVersion", "TLS1.3", config=path)
    with open(path) as f:
        new = f.read()
    assert new == ("# Gateway for site B -- ask ops before changing\n"
                   "listen:\n"
                   "  address: 127.0.0.1   # loopback for now\n"
                   "  port: 9090 # agents use this\n"
                   "allowed_hosts:\n"
                   "  # Log Analytics\n"
                   "  - \"*.ods.opinsights.azure.com\"  # ingestion\n"
                   "  - b.example.com\n"
                   "allowed_client_certificates: [\"CN=agent01, O=Contoso\"]   # not enforced yet\n"
                   "# trailing comment\n"
                   "limits:\n"
                   "  idle_timeout_s: 120\n"
                   "tls:\n"
                   "  min_version: \"1.3\"\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    ok("check-config", config=path)
    assert ok("allowed-client-cert", "list", config=path).splitlines() == ["CN=agent01, O=Contoso"]
    assert ok("config", "get", "tls.min_version", config=path).strip() == "1.3"
    ok("allowed-client-cert", "remove", "CN=agent01, O=Contoso", config=path)
    assert ok("allowed-client-cert", "list", config=path) == ""
    # Not a subject (no CN=): refused with the reason, the file untouched.
    with open(path) as f:
        before = f.read()
    r = omsgw("allowed-client-cert", "add", "agent01", config=path)
    assert r.returncode != 0 and "is not a certificate subject" in r.stderr, r.stderr
    with open(path) as f:
        assert f.read() == before


def test_concurrent_adds_all_land(tmp_path):
    path = str(tmp_path / "omsgw.yaml")
    write(path, "# shared by many scripts\nallowed_hosts:\n  - seed.example.com\n", 0o600)
    hosts = [f"h{i}.example.com" for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda h: omsgw("allowed-host", "add", h, config=path), hosts))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    listed = ok("allowed-host", "list", config=path).split()
    assert sorted(listed) == sorted(hosts + ["seed.example.com"])
    with open(path) as f:
        assert f.read().startswith("# shared by many scripts\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_config_get_reads_keys_and_aliases(tmp_path):
    path = str(tmp_path / "omsgw.yaml")
    write(path, "listen: {address: 127.0.0.1, port: 18443}\n")
    assert ok("config", "get", "ListenPort", config=path) == "18443\n"
    assert ok("config", "get", "listenport", config=path) == "18443\n"
    assert ok("config", "get", "listen.port", config=path) == "18443\n"
    assert ok("config", "get", "IdleTimeout", config=path) == "600\n"
    everything = ok("config", "get", config=path)
    assert "listen.port: 18443\n" in everything
    assert "limits.idle_timeout_s: 600  (default)\n" in everything
    r = omsgw("config", "get", "NoSuchThing", config=path)
    assert r.returncode == 1 and "unknown setting" in r.stderr
    r = omsgw("config", "get", "ListenPort", config=str(tmp_path / "missing.yaml"))
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_relay_proxy_get_set_clear_never_shows_the_password(tmp_path):
    path = str(tmp_path / "omsgw.yaml")
    write(path, "# relay config below\nmode: enforce\n")
    secret = "s3cr3t-Pa55w0rd"
    pw = str(tmp_path / "relay.pw")
    write(pw, secret + "\n", 0o600)
    out = ok("relay-proxy", "set", "--address", "http://proxy.corp.example:3128",
             "--username", "svc-omsgw", "--password-file", pw, config=path)
    assert secret not in out
    shown = ok("relay-proxy", "get", config=path)
    assert "http://proxy.corp.example:3128" in shown
    assert "svc-omsgw" in shown
    assert "password file: set" in shown
    assert secret not in shown
    with open(path) as f:
        text = f.read()
    assert secret not in text and text.startswith("# relay config below\n")
    assert ok("config", "get", "RelayProxy", config=path).strip() == "http://proxy.corp.example:3128"
    everything = ok("config", "get", config=path)
    assert secret not in everything

    # A password file others can read is refused, and the file stays as it was.
    loose = str(tmp_path / "loose.pw")
    write(loose, secret, 0o644)
    r = omsgw("relay-proxy", "set", "--address", "http://other.example:8080",
              "--username", "u", "--password-file", loose, config=path)
    assert r.returncode == 1 and "chmod 600" in r.stderr and secret not in r.stderr
    with open(path) as f:
        assert f.read() == text
    # So are a keytab others can read and a CA file with no certificate (they were
    # written, and the next start of the service failed on them).
    loose_kt = str(tmp_path / "loose.keytab")
    write(loose_kt, "keytab", 0o644)
    r = omsgw("relay-proxy", "set", "--auth", "negotiate", "--keytab", loose_kt, config=path)
    assert r.returncode == 1 and "relay_proxy.keytab" in r.stderr and "chmod 600" in r.stderr
    bad_ca = str(tmp_path / "bad-ca.pem")
    write(bad_ca, "not a certificate\n", 0o644)
    r = omsgw("relay-proxy", "set", "--address", "https://proxy.corp.example:3128",
              "--ca-file", bad_ca, config=path)
    assert r.returncode == 1 and "relay_proxy.ca_file" in r.stderr
    with open(path) as f:
        assert f.read() == text
    # Passwords on the command line are refused.
    r = omsgw("relay-proxy", "set", "--address", "http://p.example:8080", "--username", "u",
              "--password", secret, config=path)
    assert r.returncode == 2 and "--password-file" in r.stderr
    # An invalid address is refused by validation.
    r = omsgw("relay-proxy", "set", "--address", "ftp://p.example:8080", config=path)
    assert r.returncode == 1 and "relay_proxy.address" in r.stderr

    # set replaces the options it is given and keeps the others (SPEC, issue 16): an
    # empty value clears one.
    ok("relay-proxy", "set", "--address", "http://p2.example:8080", "--username", "",
       "--password-file", "", config=path)
    shown = ok("relay-proxy", "get", config=path)
    assert "http://p2.example:8080" in shown and "username:      none" in shown
    assert "password file: not set" in shown
    ok("relay-proxy", "clear", config=path)
    assert "none (direct connections)" in ok("relay-proxy", "get", config=path)


def test_relay_proxy_set_keeps_a_symlinked_password_file_a_link(tmp_path):
    """A Kubernetes Secret mounts relay.pw -> ..data/relay.pw and swaps ..data on rotation:
    the YAML must name the link, not today's target (it used to be resolved)."""
    path = str(tmp_path / "omsgw.yaml")
    write(path, "mode: enforce\n")
    os.mkdir(tmp_path / "v1")
    write(str(tmp_path / "v1" / "relay.pw"), "pw-1\n", 0o600)
    os.symlink("v1", tmp_path / "..data")
    os.symlink("..data/relay.pw", tmp_path / "relay.pw")
    ok("relay-proxy", "set", "--address", "http://proxy.corp.example:3128", "--username", "u",
       "--password-file", str(tmp_path / "relay.pw"), config=path)
    with open(path) as f:
        text = f.read()
    assert f"password_file: {tmp_path}/relay.pw" in text, text
    assert "v1" not in text, text


def test_automation_hosts_accepts_readable_region_names():
    for name in (["West Europe"], ["westeurope"], ["west-europe"], ["West", "Europe"]):
        out = ok("automation-hosts", *name)
        assert out.split() == [WE_JOB, WE_AGENT], name
    assert "ase-agentservice-prod-1.azure-automation.net" in ok("automation-hosts", "Australia")
    every = ok("automation-hosts")
    assert every.count("jobruntimedata") == 10
    r = omsgw("automation-hosts", "Atlantis")
    assert r.returncode == 1 and "westeurope" in r.stderr


def test_help_on_every_command_and_errors_on_stderr(tmp_path):
    for cmd in (["config"], ["config", "get"], ["config", "set"], ["allowed-host"],
                ["allowed-host", "list"], ["allowed-client-cert"], ["automation-hosts"],
                ["relay-proxy"], ["relay-proxy", "set"], ["reload"], ["status"], ["run"],
                ["check-config"], ["version"], []):
        r = omsgw(*cmd, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout, cmd
    assert "ListenPort" in ok("config", "--help")
    path = str(tmp_path / "omsgw.yaml")
    write(path, "mode: enforce\n")
    for args, rc in ((["allowed-host"], 2), (["allowed-host", "frobnicate", "x"], 2),
                     (["allowed-host", "list", "--bogus"], 2), (["config", "set", "ListenPort"], 2),
                     (["relay-proxy", "set"], 2), (["config", "set", "workspaces", "x"], 1),
                     (["allowed-host", "add", "a.example.com", "b.example.com"], 2)):
        r = omsgw(*args, config=path)
        assert r.returncode == rc, (args, r.returncode, r.stderr)
        assert r.stderr and r.stdout == "", args


def test_config_help_marks_exactly_the_restart_only_settings(tmp_path):
    """SPEC.md: every setting applies at reload except listen.address/port and
    admin.address/port. `config --help` called listen.proxy_protocol "restart needed"
    while a reload applied it; `config set` of each of these four says so too."""
    r = subprocess.run([BIN, "config", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    marked = {line.split()[0] for line in r.stdout.splitlines()
              if line.startswith("  ") and line.rstrip().endswith("restart needed")}
    assert marked == {"listen.address", "listen.port", "admin.address", "admin.port"}, marked
    path = tmp_path / "omsgw.yaml"
    path.write_text("{}\n")
    for key, value in [("listen.port", "3129"), ("listen.proxy_protocol", "true")]:
        s = subprocess.run([BIN, "config", "set", key, value, "--config", str(path)],
                           capture_output=True, text=True, timeout=30)
        assert s.returncode == 0, s.stderr
        assert ("next restart" in s.stdout) == (key == "listen.port"), s.stdout


def test_config_set_reports_the_value_as_stored(tmp_path):
    """`config set Mode Report` writes `mode: report`; it printed "mode = Report"."""
    path = str(tmp_path / "omsgw.yaml")
    write(path, "{}\n")
    assert ok("config", "set", "Mode", "Report", config=path).startswith("mode = report in ")
    assert ok("config", "set", "MinTlsVersion", "TLS1.3",
              config=path).startswith("tls.min_version = 1.3 in ")
    assert ok("config", "set", "ProxyProtocol", "On",
              config=path).startswith("listen.proxy_protocol = true in ")
    assert ok("config", "get", "Mode", config=path) == "report\n"
