"""SPEC.md relay_proxy (issue 4): tunnels through a relay (upstream, corporate) proxy.

A real Squid from Debian, started by these tests on loopback with basic_ncsa_auth and
an htpasswd file, is the relay. Checked: tunnels through it work and show in its
access log; a wrong password or an unreachable relay gives the agent 502 and event 403
naming the relay; the password file must not be readable by group/others (start-up
refused, reload refused); switching the relay on and off by rewriting the config file
(inotify) or SIGHUP applies to new tunnels while established tunnels keep relaying;
the password never appears in a log line, in /status or in CLI output.
"""
import base64
import os
import signal
import subprocess
import time
import urllib.request

import pytest

import relays
from gwtest import (BIN, Certs, EchoServer, Gateway, Nginx, base_config, free_port, proxy_connect,
                    recv_exact)

USER = "svc-omsgw"
PASSWORD = "Pw-7f3a9c1e-relay"      # the secret that must never be printed
WRONG_PASSWORD = "Pw-wrong-0000"
SQUID_AUTH = "/usr/lib/squid/basic_ncsa_auth"


def secrets():
    """Every form in which the password could leak."""
    forms = [PASSWORD]
    for pw in (PASSWORD, WRONG_PASSWORD):
        forms.append(base64.b64encode(f"{USER}:{pw}".encode()).decode())
    return forms


def Squid(connect_ports, users, hosts):
    """A real Squid on 127.0.0.1 with Basic authentication (basic_ncsa_auth + htpasswd)
    (relays.Squid: no cache, CONNECT to the given ports only, its own hosts file)."""
    htpasswd = "".join(
        subprocess.run(["htpasswd", "-n", "-i", user], input=password.encode(), check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
        + "\n" for user, password in users.items())
    return relays.Squid(connect_ports, hosts,
                        f"auth_param basic program {SQUID_AUTH} {{dir}}/htpasswd\n"
                        "auth_param basic realm omsgw-test\n"
                        "auth_param basic credentialsttl 1 second",
                        files={"htpasswd": htpasswd})


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("relay")
    os.chmod(root, 0o755)
    certs = Certs(str(root / "certs"))
    nginx = Nginx(str(root / "nginx"), certs)
    echo = EchoServer(None, mode="halfclose")
    squid = Squid([nginx.port, echo.port], {USER: PASSWORD}, ["allowed.test"])
    yield {"root": root, "certs": certs, "nginx": nginx, "echo": echo, "squid": squid}
    squid.stop()
    echo.stop()
    nginx.stop()


def password_file(path, password, mode=0o600):
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, mode)
    return str(path)


def relay_cfg(address, pw_file, user=USER):
    return {"address": address, "username": user, "password_file": pw_file}


def gw_config(env, relay=None):
    cfg = base_config(free_port(), allowed_ports=[env["nginx"].port, env["echo"].port])
    if relay is not None:
        cfg["relay_proxy"] = relay
    return cfg


@pytest.fixture
def gateways():
    started = []
    yield started
    for g in started:
        assert g.stop() == 0, g.text()  # a clean exit, also under the sanitizers
        text = g.text()
        for s in secrets():
            assert s not in text, f"a secret appears in the omsgw log:\n{text}"


def start_gw(gateways, tmp_path, cfg, name="gw"):
    g = Gateway(str(tmp_path / name), cfg)
    gateways.append(g)
    return g


def curl(gw, url, cacert):
    return subprocess.run(["curl", "-sS", "--max-time", "20", "-x", f"http://127.0.0.1:{gw.port}",
                           "--cacert", cacert, "-o", "-", "-w", "\n%{http_code} %{http_connect}",
                           url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def status_json(gw):
    url = f"http://127.0.0.1:{gw.config['admin']['port']}/status"
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def open_tunnel(gw, port):
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{port}")
    assert status == 200, head
    return s


def echo_round(s, payload):
    s.sendall(payload)
    assert recv_exact(s, len(payload)) == payload


def established_lines(gw):
    return [l for l in gw.text().splitlines() if "tunnel established" in l]


def wait_new_established(gw, before, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = established_lines(gw)
        if len(lines) > before:
            return lines[before]
        time.sleep(0.05)
    raise AssertionError("no new 'tunnel established' line:\n" + gw.text())


# ---------------------------------------------------------------- through Squid


def test_tunnel_through_squid_reaches_nginx_and_shows_in_squid_log(env, gateways, tmp_path):
    squid, nginx = env["squid"], env["nginx"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(gateways, tmp_path, gw_config(env, relay_cfg(squid.address(), pw)))
    r = curl(gw, f"https://allowed.test:{nginx.port}/", env["certs"].ca)
    assert r.returncode == 0, r.stderr
    body, codes = r.stdout.rsplit(b"\n", 1)
    assert body == nginx.body
    assert codes.split() == [b"200", b"200"]
    line = squid.wait_log("TCP_TUNNEL/200", f"CONNECT allowed.test:{nginx.port}", USER)
    assert "127.0.0.1" in line
    gw.wait_event(100, f"tunnel established through relay 127.0.0.1:{squid.port}")
    assert f'"relay_proxy":"http://127.0.0.1:{squid.port}"' in status_json(gw)


def test_wrong_password_gives_502_and_event_403_naming_the_relay(env, gateways, tmp_path):
    squid, nginx = env["squid"], env["nginx"]
    pw = password_file(tmp_path / "relay.pw", WRONG_PASSWORD)
    gw = start_gw(gateways, tmp_path, gw_config(env, relay_cfg(squid.address(), pw)))
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{nginx.port}")
    s.close()
    assert status == 502, head
    gw.wait_event(403, rf"reason=relay_refused.*relay 127\.0\.0\.1:{squid.port} refused CONNECT "
                       rf"allowed\.test:{nginx.port}: 407 Proxy Authentication Required")
    squid.wait_log("TCP_DENIED/407", f"CONNECT allowed.test:{nginx.port}")


def test_unreachable_relay_gives_502_and_event_403(env, gateways, tmp_path):
    dead = free_port()  # nothing listens there
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(gateways, tmp_path, gw_config(env, relay_cfg(f"http://127.0.0.1:{dead}", pw)))
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{env['nginx'].port}")
    s.close()
    assert status == 502, head
    gw.wait_event(403, rf"cannot connect to relay 127\.0\.0\.1:{dead}: .*[Rr]efused")


def test_relay_without_credentials_is_refused_by_squid_with_502(env, gateways, tmp_path):
    squid = env["squid"]
    gw = start_gw(gateways, tmp_path, gw_config(
        env, {"address": squid.address(), "username": "", "password_file": ""}))
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{env['echo'].port}")
    s.close()
    assert status == 502, head
    gw.wait_event(403, rf"relay 127\.0\.0\.1:{squid.port} refused CONNECT .*: 407")


def test_disallowed_host_is_refused_before_the_relay_is_asked(env, gateways, tmp_path):
    squid = env["squid"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(gateways, tmp_path, gw_config(env, relay_cfg(squid.address(), pw)))
    s, status, _ = proxy_connect("127.0.0.1", gw.port, f"other.test:{env['echo'].port}")
    s.close()
    assert status == 403
    gw.wait_event(105, "dest=other.test")
    assert not any("other.test" in l for l in squid.log_lines())


# ---------------------------------------------------------------- password file


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_password_file_readable_by_others_refuses_start(env, tmp_path, mode):
    pw = password_file(tmp_path / "relay.pw", PASSWORD, mode)
    cfg = gw_config(env, relay_cfg(env["squid"].address(), pw))
    g = Gateway(str(tmp_path / "gw"), cfg, wait=False)
    try:
        rc = g.proc.wait(20)
    finally:
        g.stop()
    text = g.text()
    assert rc != 0
    assert "event_id=101" not in text
    lines = [l for l in text.splitlines() if "event_id=401" in l]
    assert any("relay_proxy.password_file" in l and f"mode {mode:04o}" in l for l in lines), text
    assert any("not started" in l for l in lines), text
    for s in secrets():
        assert s not in text


def test_missing_password_file_refuses_start(env, tmp_path):
    cfg = gw_config(env, relay_cfg(env["squid"].address(), str(tmp_path / "absent.pw")))
    g = Gateway(str(tmp_path / "gw"), cfg, wait=False)
    try:
        rc = g.proc.wait(20)
    finally:
        g.stop()
    assert rc != 0
    assert any("relay_proxy.password_file" in l and "absent.pw" in l
               for l in g.text().splitlines() if "event_id=401" in l), g.text()


def test_reload_with_world_readable_password_file_is_refused_and_relay_stays(env, gateways,
                                                                             tmp_path):
    squid, echo = env["squid"], env["echo"]
    good = password_file(tmp_path / "good.pw", PASSWORD)
    cfg = gw_config(env, relay_cfg(squid.address(), good))
    gw = start_gw(gateways, tmp_path, cfg)
    loose = password_file(tmp_path / "loose.pw", PASSWORD, 0o644)
    gw.write_config({**cfg, "relay_proxy": relay_cfg(squid.address(), loose)})
    gw.wait_event(401, r"relay_proxy\.password_file.*mode 0644")
    gw.wait_event(401, "reload .* refused")
    # The running relay stays: a new tunnel still goes through Squid.
    before = len(established_lines(gw))
    s = open_tunnel(gw, echo.port)
    echo_round(s, b"still through squid")
    assert "through relay" in wait_new_established(gw, before)
    s.close()


def test_new_password_applies_on_sighup_without_yaml_change(env, gateways, tmp_path):
    squid, echo = env["squid"], env["echo"]
    pw = tmp_path / "relay.pw"
    password_file(pw, PASSWORD)
    gw = start_gw(gateways, tmp_path, gw_config(env, relay_cfg(squid.address(), str(pw))))
    s = open_tunnel(gw, echo.port)
    echo_round(s, b"before rotation")
    password_file(pw, WRONG_PASSWORD)  # same YAML, new password file content
    gw.signal(signal.SIGHUP)
    gw.wait_event(100, f"relay proxy 127.0.0.1:{squid.port}: credentials changed")
    t, status, _ = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{echo.port}")
    t.close()
    assert status == 502
    echo_round(s, b"the established tunnel is untouched")
    s.close()
    password_file(pw, PASSWORD)
    gw.signal(signal.SIGHUP)
    deadline = time.time() + 10
    while len([l for l in gw.events(100) if "credentials changed" in l]) < 2:
        assert time.time() < deadline, gw.text()
        time.sleep(0.05)
    u = open_tunnel(gw, echo.port)
    echo_round(u, b"after rotation back")
    u.close()


# ---------------------------------------------------------------- hot swap


def test_switching_relay_on_and_off_keeps_established_tunnels(env, gateways, tmp_path):
    squid, echo = env["squid"], env["echo"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    cfg = gw_config(env)  # direct at first
    gw = start_gw(gateways, tmp_path, cfg)
    assert '"relay_proxy":"direct"' in status_json(gw)

    n = len(established_lines(gw))
    direct1 = open_tunnel(gw, echo.port)
    echo_round(direct1, b"direct one")
    assert "through relay" not in wait_new_established(gw, n)

    # Relay on, by rewriting the config file (inotify reload).
    gw.write_config({**cfg, "relay_proxy": relay_cfg(squid.address(), pw)})
    gw.wait_event(100, f"relay proxy set to 127.0.0.1:{squid.port}")
    n = len(established_lines(gw))
    relayed = open_tunnel(gw, echo.port)
    echo_round(relayed, b"through squid")
    assert f"through relay 127.0.0.1:{squid.port}" in wait_new_established(gw, n)
    echo_round(direct1, b"direct tunnel still relays after the switch")

    # Relay off again, by rewriting the file and SIGHUP.
    gw.write_config(cfg)
    gw.signal(signal.SIGHUP)
    gw.wait_event(100, f"relay proxy 127.0.0.1:{squid.port} cleared")
    n = len(established_lines(gw))
    direct2 = open_tunnel(gw, echo.port)
    echo_round(direct2, b"direct again")
    assert "through relay" not in wait_new_established(gw, n)
    # Both tunnels opened under the old settings keep relaying.
    echo_round(relayed, b"squid tunnel still relays after the relay was cleared")
    echo_round(direct1, b"and the first direct one too")
    assert '"relay_proxy":"direct"' in status_json(gw)

    # The relayed tunnel shows in Squid's access log (written when it ends).
    for s in (direct1, relayed, direct2):
        s.close()
    squid.wait_log("TCP_TUNNEL/200", f"CONNECT allowed.test:{echo.port}", USER)


# ---------------------------------------------------------------- secrets


def test_password_appears_in_no_cli_output_or_status(env, gateways, tmp_path):
    squid = env["squid"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(gateways, tmp_path, gw_config(env, relay_cfg(squid.address(), pw)))
    outputs = [status_json(gw)]
    for args in (["check-config"], ["config", "get"], ["config", "get", "relay_proxy.password_file"],
                 ["relay-proxy", "get"], ["status"]):
        r = subprocess.run([BIN, *args, "--config", gw.config_path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        outputs.append(r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace"))
    for out in outputs:
        for s in secrets():
            assert s not in out, out
