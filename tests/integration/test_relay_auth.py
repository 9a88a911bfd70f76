"""SPEC.md relay_proxy (issue 16): the corporate proxy's schemes, https:// relays,
fallback and bypass, each against a real relay started here on loopback:
- NTLM: Squid with ntlm_fake_auth (its access log shows the user we sent);
- Digest: Squid with digest_file_auth, right and wrong password;
- Negotiate: Squid with negotiate_kerberos_auth against a real MIT KDC (krb5kdc) with
  a realm, principals and keytabs made here with kadmin.local;
- https://: stunnel4 with a test CA in front of Squid; a wrong CA gives 502 and event
  403 and nothing reaches Squid.
Every test fetches over TLS from nginx through omsgw and the relay, proven by the
relay's own log, and checks that no secret reaches the gateway's log.
"""
import base64
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

from gwtest import (BIN, Certs, Gateway, Nginx, base_config, free_port, proxy_connect,
                    wait_until)
from relays import (HELPERS, NTLM_V1_CHALLENGE, REALM, ChallengingRelay, Kdc, RefusingRelay, Squid,
                    Stunnel)

USER = "svc-omsgw"
NTLM_USER = "CORP\\svc-omsgw"
PASSWORD = "Pw-16c0ffee-digest"  # the secret that must never be printed
WRONG = "Pw-wrong-1111"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("relay_auth")
    os.chmod(root, 0o755)
    certs = Certs(str(root / "certs"))
    nginx = Nginx(str(root / "nginx"), certs)
    hosts = ["allowed.test"]
    started = []
    try:
        kdc = Kdc()
        started.append(kdc)
        squid_keytab = kdc.keytab("HTTP/localhost", os.path.join(kdc.dir, "http.keytab"))
        client_keytab = kdc.keytab("omsgw", str(root / "client.keytab"))
        with open(squid_keytab, "rb") as f:
            keytab_bytes = f.read()
        squids = {
            "ntlm": Squid([nginx.port], hosts, f"auth_param ntlm program {HELPERS}/ntlm_fake_auth\n"
                                               "auth_param ntlm children 2"),
            "digest": Squid([nginx.port], hosts,
                            f"auth_param digest program {HELPERS}/digest_file_auth {{dir}}/digest.pw\n"
                            "auth_param digest children 2\nauth_param digest realm omsgw-digest",
                            files={"digest.pw": f"{USER}:{PASSWORD}\n"}),
            "negotiate": Squid([nginx.port], hosts,
                               f"auth_param negotiate program {HELPERS}/negotiate_kerberos_auth "
                               f"-s HTTP/localhost@{REALM}\nauth_param negotiate children 2",
                               env={**kdc.env, "KRB5_KTNAME": "{dir}/http.keytab",
                                    "KRB5RCACHETYPE": "none"},
                               files={"http.keytab": keytab_bytes}),
            # Offers Digest (first) and NTLM: auto must answer NTLM (SPEC's order).
            "digest+ntlm": Squid([nginx.port], hosts,
                                 f"auth_param digest program {HELPERS}/digest_file_auth {{dir}}/digest.pw\n"
                                 "auth_param digest children 2\nauth_param digest realm omsgw-digest\n"
                                 f"auth_param ntlm program {HELPERS}/ntlm_fake_auth\n"
                                 "auth_param ntlm children 2",
                                 files={"digest.pw": f"{USER}:{PASSWORD}\n"}),
        }
        started.extend(squids.values())
        stunnel = Stunnel(str(root / "stunnel"), certs.server, certs.server_key,
                          squids["ntlm"].port)
        started.append(stunnel)
        # The gateway's Kerberos library reads the test realm's configuration.
        os.environ["KRB5_CONFIG"] = kdc.krb5_conf
        yield {"root": root, "certs": certs, "nginx": nginx, "squids": squids, "kdc": kdc,
               "client_keytab": client_keytab, "stunnel": stunnel}
    finally:
        for s in reversed(started):
            s.stop()
        nginx.stop()


def password_file(path, password):
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return str(path)


@pytest.fixture
def gateways():
    started = []
    yield started
    for g in started:
        assert g.stop() == 0, g.text()
        text = g.text()
        for s in (PASSWORD, WRONG):
            assert s not in text, f"a secret appears in the omsgw log:\n{text}"


def start_gw(env, gateways, tmp_path, relay, **overrides):
    cfg = base_config(free_port(), allowed_ports=[env["nginx"].port], **overrides)
    cfg["relay_proxy"] = relay
    g = Gateway(str(tmp_path / f"gw{len(gateways)}"), cfg)
    gateways.append(g)
    return g


def fetch(env, gw):
    nginx = env["nginx"]
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-x", f"http://127.0.0.1:{gw.port}",
                        "--cacert", env["certs"].ca, "-o", "-", "-w", "\n%{http_code}",
                        f"https://allowed.test:{nginx.port}/"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr + gw.text().encode()
    body, code = r.stdout.rsplit(b"\n", 1)
    assert body == nginx.body and code == b"200"


def refused(env, gw):
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{env['nginx'].port}")
    s.close()
    return status


def metrics(gw):
    url = f"http://127.0.0.1:{gw.config['admin']['port']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def metric(gw, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in metrics(gw).splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{{{want}}} in /metrics")


def quiet_listener():
    """A socket that listens but is never accepted from: connections would queue."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    return s


def nobody_connected(listener):
    try:
        listener.accept()[0].close()
        return False
    except BlockingIOError:
        return True


# ---------------------------------------------------------------- NTLM


@pytest.mark.parametrize("auth", ["ntlm", "auto"])
def test_ntlm_relay_carries_a_tls_fetch_and_squid_logs_the_user(env, gateways, tmp_path, auth):
    squid = env["squids"]["ntlm"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(env, gateways, tmp_path, {"address": squid.address(), "auth": auth,
                                            "username": NTLM_USER, "password_file": pw})
    fetch(env, gw)
    squid.wait_log("TCP_TUNNEL/200", f"CONNECT allowed.test:{env['nginx'].port}", "svc-omsgw")
    assert metric(gw, "omsgw_relay_connects_total", relay=f"127.0.0.1:{squid.port}",
                  result="ok") == 1


def test_auto_answers_ntlm_not_digest_when_the_relay_offers_both(env, gateways, tmp_path):
    # libcurl alone would pick Digest; the Digest password file does not know NTLM_USER,
    # so only an NTLM answer can open the tunnel, and Squid logs the NTLM helper's user.
    squid = env["squids"]["digest+ntlm"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(env, gateways, tmp_path, {"address": squid.address(), "auth": "auto",
                                            "username": NTLM_USER, "password_file": pw})
    fetch(env, gw)
    squid.wait_log("TCP_TUNNEL/200", f"CONNECT allowed.test:{env['nginx'].port}", "svc-omsgw")
    assert metric(gw, "omsgw_relay_connects_total", relay=f"127.0.0.1:{squid.port}",
                  result="ok") == 1


def NtlmV1Challenger():
    """A relay peer for the one case Squid cannot play: an NTLM challenge without
    extended session security (ntlm_fake_auth always sets it), to which libcurl would
    answer NTLMv1. Records every Proxy-Authorization it receives."""
    return ChallengingRelay(
        lambda authorization, n: [f"NTLM {NTLM_V1_CHALLENGE}"] if authorization else ["NTLM"])


@pytest.mark.parametrize("auth", ["ntlm", "auto"])
def test_ntlm_challenge_that_allows_only_ntlmv1_is_refused_before_any_answer(env, gateways,
                                                                           tmp_path, auth):
    relay = NtlmV1Challenger()
    try:
        pw = password_file(tmp_path / "relay.pw", PASSWORD)
        gw = start_gw(env, gateways, tmp_path, {"address": f"http://127.0.0.1:{relay.port}",
                                                "auth": auth, "username": NTLM_USER,
                                                "password_file": pw})
        assert refused(env, gw) == 502
        gw.wait_event(403, rf"relay 127\.0\.0\.1:{relay.port} refused CONNECT .*NTLMv1")
        assert metric(gw, "omsgw_relay_connects_total", relay=f"127.0.0.1:{relay.port}",
                      result="auth_failed") == 1
        # Only type-1 (negotiate) messages were sent, never a type-3 answer.
        assert relay.authorizations, "the gateway never started the NTLM handshake"
        for a in relay.authorizations:
            assert a.startswith("NTLM ") and base64.b64decode(a[5:])[8] == 1, a
    finally:
        relay.stop()


# ---------------------------------------------------------------- Digest


def test_digest_relay_with_right_password_carries_a_tls_fetch(env, gateways, tmp_path):
    squid = env["squids"]["digest"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(env, gateways, tmp_path, {"address": squid.address(), "auth": "digest",
                                            "username": USER, "password_file": pw})
    fetch(env, gw)
    squid.wait_log("TCP_TUNNEL/200", f"CONNECT allowed.test:{env['nginx'].port}", USER)


def test_digest_wrong_password_is_502_event_403_with_scheme_and_no_fallback(env, gateways,
                                                                           tmp_path):
    squid = env["squids"]["digest"]
    spare = quiet_listener()
    try:
        pw = password_file(tmp_path / "relay.pw", WRONG)
        gw = start_gw(env, gateways, tmp_path, {
            "address": squid.address(), "auth": "auto", "username": USER, "password_file": pw,
            "fallback": [f"http://127.0.0.1:{spare.getsockname()[1]}"]})
        assert refused(env, gw) == 502
        gw.wait_event(403, rf"relay 127\.0\.0\.1:{squid.port} refused CONNECT allowed\.test:\d+: "
                           r"407 .*digest credentials refused")
        relay = f"127.0.0.1:{squid.port}"
        assert metric(gw, "omsgw_relay_connects_total", relay=relay, result="auth_failed") == 1
        assert metric(gw, "omsgw_relay_up", relay=relay) == 1  # an auth failure does not skip
        assert nobody_connected(spare)  # never a fallback after an authentication failure
    finally:
        spare.close()


# ---------------------------------------------------------------- Negotiate


def test_negotiate_relay_with_client_keytab_carries_a_tls_fetch(env, gateways, tmp_path):
    squid = env["squids"]["negotiate"]
    gw = start_gw(env, gateways, tmp_path, {"address": squid.address("localhost"),
                                            "auth": "negotiate",
                                            "keytab": env["client_keytab"]},
                  upstream={"resolve": {"allowed.test": "127.0.0.1", "localhost": "127.0.0.1"}})
    fetch(env, gw)
    squid.wait_log("TCP_TUNNEL/200", f"CONNECT allowed.test:{env['nginx'].port}",
                   f"omsgw@{REALM}")


def test_a_keytab_changed_or_removed_at_reload_stops_authenticating_new_tunnels(
        env, gateways, tmp_path):
    """SPEC: every setting applies at reload. Before, the process kept the first keytab's
    environment and in-memory tickets: after a switch to another principal's keytab
    Squid still saw the first principal, and after `keytab: ""` new tunnels still
    authenticated with the removed keytab."""
    squid = env["squids"]["negotiate"]
    second = env["kdc"].keytab("omsgw-b", str(tmp_path / "b.keytab"))
    os.chmod(second, 0o600)
    relay = {"address": squid.address("localhost"), "auth": "negotiate",
             "keytab": env["client_keytab"]}
    gw = start_gw(env, gateways, tmp_path, relay,
                  upstream={"resolve": {"allowed.test": "127.0.0.1", "localhost": "127.0.0.1"}})
    fetch(env, gw)
    squid.wait_log("TCP_TUNNEL/200", f"omsgw@{REALM}")

    gw.write_config({**gw.config, "relay_proxy": {**relay, "keytab": second}})
    gw.signal(signal.SIGHUP)
    gw.wait_event(100, "credentials changed")
    before = len(squid.log_lines())
    fetch(env, gw)
    deadline = time.time() + 15
    while len(squid.log_lines()) <= before and time.time() < deadline:
        time.sleep(0.1)
    assert any(f"omsgw-b@{REALM}" in line for line in squid.log_lines()[before:]), \
        squid.log_lines()[before:]

    # No keytab: the service's own credential cache, which holds nothing here.
    gw.write_config({**gw.config, "relay_proxy": {**relay, "keytab": ""}})
    gw.signal(signal.SIGHUP)
    gw.wait_event(100, "configuration reloaded.*version 3")
    assert refused(env, gw) != 200


# ---------------------------------------------------------------- https:// relay


def test_https_relay_carries_a_tls_fetch_inside_tls_to_the_relay(env, gateways, tmp_path):
    # NTLM keeps its connection through the handshake: curl answers inside the one TLS
    # session. (Squid closes after a Digest/Basic 407 on CONNECT; see README.)
    squid, stunnel = env["squids"]["ntlm"], env["stunnel"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(env, gateways, tmp_path, {
        "address": stunnel.address(), "auth": "ntlm", "username": NTLM_USER, "password_file": pw,
        "ca_file": env["certs"].ca},
                  upstream={"resolve": {"allowed.test": "127.0.0.1", "localhost": "127.0.0.1"}})
    fetch(env, gw)
    squid.wait_log("TCP_TUNNEL/200", f"CONNECT allowed.test:{env['nginx'].port}", "svc-omsgw")
    assert stunnel.accepted() >= 1  # the relay's TLS front saw the connection


def test_https_relay_with_wrong_ca_is_502_event_403_and_nothing_reaches_squid(env, gateways,
                                                                            tmp_path):
    squid, stunnel = env["squids"]["ntlm"], env["stunnel"]
    other = Certs(str(tmp_path / "other-ca"), names=("localhost",))
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    before = len(squid.log_lines())
    gw = start_gw(env, gateways, tmp_path, {
        "address": stunnel.address(), "auth": "ntlm", "username": NTLM_USER, "password_file": pw,
        "ca_file": other.ca},
                  upstream={"resolve": {"allowed.test": "127.0.0.1", "localhost": "127.0.0.1"}})
    assert refused(env, gw) == 502
    gw.wait_event(403, rf"relay localhost:{stunnel.port}: TLS handshake failed")
    assert metric(gw, "omsgw_relay_connects_total", relay=f"localhost:{stunnel.port}",
                  result="tls_failed") == 1
    time.sleep(0.5)
    assert len(squid.log_lines()) == before


# ---------------------------------------------------------------- fallback, bypass


def test_dead_first_relay_falls_back_and_is_skipped(env, gateways, tmp_path):
    squid = env["squids"]["digest"]
    dead = free_port()
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(env, gateways, tmp_path, {
        "address": f"http://127.0.0.1:{dead}", "fallback": [squid.address()],
        "auth": "digest", "username": USER, "password_file": pw})
    fetch(env, gw)
    fetch(env, gw)  # the dead relay is skipped now: one failed attempt in all
    dead_relay = f"127.0.0.1:{dead}"
    assert metric(gw, "omsgw_relay_connects_total", relay=dead_relay, result="unreachable") == 1
    assert metric(gw, "omsgw_relay_up", relay=dead_relay) == 0
    assert metric(gw, "omsgw_relay_connects_total", relay=f"127.0.0.1:{squid.port}",
                  result="ok") == 2
    squid.wait_log("TCP_TUNNEL/200", f"CONNECT allowed.test:{env['nginx'].port}", USER)


def relay_events(gw, relay):
    """The event 403 lines (warn) about an attempt through relay."""
    return [l for l in gw.events(403) if " warn " in l and f" relay={relay} " in l]


@pytest.mark.parametrize("status", ["403 Forbidden", "502 Bad Gateway", "503 Service Unavailable"])
def test_refusing_first_relay_falls_back_and_stays_up(env, gateways, tmp_path, status):
    squid = env["squids"]["digest"]
    refusing = RefusingRelay(status)
    try:
        pw = password_file(tmp_path / "relay.pw", PASSWORD)
        gw = start_gw(env, gateways, tmp_path, {
            "address": refusing.address(), "fallback": [squid.address()],
            "auth": "digest", "username": USER, "password_file": pw})
        fetch(env, gw)
        fetch(env, gw)  # it answered: not skipped, asked again
        assert refusing.connects == 2
        assert metric(gw, "omsgw_relay_connects_total", relay=refusing.relay(),
                      result="refused") == 2
        assert metric(gw, "omsgw_relay_up", relay=refusing.relay()) == 1
        assert metric(gw, "omsgw_relay_connects_total", relay=f"127.0.0.1:{squid.port}",
                      result="ok") == 2
    finally:
        refusing.stop()


def test_every_relay_refusing_gives_502_with_the_last_refusal(env, gateways, tmp_path):
    first, last = RefusingRelay("403 Forbidden"), RefusingRelay("503 Service Unavailable")
    try:  # no credentials: our own CONNECT (Beast), not libcurl's
        gw = start_gw(env, gateways, tmp_path, {"address": first.address(),
                                                "fallback": [last.address()]})
        assert refused(env, gw) == 502
        gw.wait_event(403, rf"reason=relay_refused.*relay {last.relay()} refused CONNECT "
                           r"allowed\.test:\d+: 503")
        assert (first.connects, last.connects) == (1, 1)
        for r in (first, last):
            assert metric(gw, "omsgw_relay_connects_total", relay=r.relay(), result="refused") == 1
            assert metric(gw, "omsgw_relay_up", relay=r.relay()) == 1
    finally:
        first.stop()
        last.stop()


def test_each_failed_relay_attempt_is_event_403_even_when_a_fallback_carries_the_tunnel(
        env, gateways, tmp_path):
    squid = env["squids"]["digest"]
    dead = f"127.0.0.1:{free_port()}"
    refusing = RefusingRelay("403 Forbidden")
    try:
        pw = password_file(tmp_path / "relay.pw", PASSWORD)
        gw = start_gw(env, gateways, tmp_path, {
            "address": f"http://{dead}", "fallback": [refusing.address(), squid.address()],
            "auth": "digest", "username": USER, "password_file": pw})
        fetch(env, gw)
        gw.wait_event(403, rf" warn .*reason=refused relay={dead} .*cannot connect to relay {dead}")
        gw.wait_event(403, rf" warn .*reason=relay_refused relay={refusing.relay()} .*relay "
                           rf"{refusing.relay()} refused CONNECT allowed\.test:\d+: 403")
        fetch(env, gw)  # the dead relay is skipped now (not attempted, not logged)
        deadline = time.time() + 10
        while len(relay_events(gw, refusing.relay())) < 2:
            assert time.time() < deadline, gw.text()
            time.sleep(0.05)
        assert len(relay_events(gw, dead)) == 1, gw.text()
        assert len(relay_events(gw, refusing.relay())) == 2, gw.text()
        assert relay_events(gw, f"127.0.0.1:{squid.port}") == [], gw.text()
    finally:
        refusing.stop()


def test_relay_up_drops_the_series_of_relays_no_longer_configured(env, gateways, tmp_path):
    squid = env["squids"]["digest"]
    dead = f"127.0.0.1:{free_port()}"
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    relay = {"address": f"http://{dead}", "fallback": [squid.address()], "auth": "digest",
             "username": USER, "password_file": pw}
    gw = start_gw(env, gateways, tmp_path, relay)
    fetch(env, gw)
    assert metric(gw, "omsgw_relay_up", relay=dead) == 0
    gw.write_config({**gw.config, "relay_proxy": {**relay, "address": squid.address(),
                                                  "fallback": []}})
    gw.wait_event(100, f"relay proxy set to 127.0.0.1:{squid.port}")
    # The reloader updates the series as it hands the relay over; the relay actor's
    # line may come first.
    wait_until(lambda: f'omsgw_relay_up{{relay="{dead}"}}' not in metrics(gw),
               "the dropped relay's series gone")
    assert metric(gw, "omsgw_relay_up", relay=f"127.0.0.1:{squid.port}") == 1
    fetch(env, gw)
    assert f'omsgw_relay_up{{relay="{dead}"}}' not in metrics(gw)


def test_bypassed_host_goes_direct(env, gateways, tmp_path):
    squid = env["squids"]["digest"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    before = len(squid.log_lines())
    gw = start_gw(env, gateways, tmp_path, {
        "address": squid.address(), "auth": "digest", "username": USER, "password_file": pw,
        "bypass": ["allowed.test"]})
    fetch(env, gw)
    line = gw.wait_event(100, "tunnel established")
    assert "through relay" not in line
    time.sleep(0.5)
    assert len(squid.log_lines()) == before


def test_check_config_and_relay_proxy_get_show_no_secret(env, gateways, tmp_path):
    squid = env["squids"]["digest"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(env, gateways, tmp_path, {
        "address": squid.address(), "auth": "digest", "username": USER, "password_file": pw,
        "keytab": env["client_keytab"]})
    fetch(env, gw)
    for args in (["check-config"], ["config", "get"], ["relay-proxy", "get"], ["status"]):
        r = subprocess.run([BIN, *args, "--config", gw.config_path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
        assert PASSWORD not in out, out


# ---------------------------------------------------------------- CLI, live


def omsgw_cli(gw, *args):
    r = subprocess.run([BIN, *args, "--config", gw.config_path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, out
    assert PASSWORD not in out
    return out


def https_get(env, sock):
    """One HTTPS request over an open tunnel (TLS with nginx inside it)."""
    ctx = ssl.create_default_context(cafile=env["certs"].ca)
    t = ctx.wrap_socket(sock, server_hostname="allowed.test", do_handshake_on_connect=True)
    t.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
    data = b""
    while env["nginx"].body not in data:
        chunk = t.recv(4096)
        assert chunk, data
        data += chunk
    return t


def test_cli_changes_apply_live_while_an_older_tunnel_keeps_relaying(env, gateways, tmp_path):
    squid = env["squids"]["digest"]
    nginx = env["nginx"]
    pw = password_file(tmp_path / "relay.pw", PASSWORD)
    gw = start_gw(env, gateways, tmp_path, {"address": squid.address(), "auth": "digest",
                                            "username": USER, "password_file": pw})
    old, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{nginx.port}")
    assert status == 200, head
    old_tls = https_get(env, old)

    dead = free_port()
    omsgw_cli(gw, "relay-proxy", "set", "--address", f"http://127.0.0.1:{dead}",
              "--fallback", squid.address())
    gw.wait_event(100, f"relay proxy set to 127.0.0.1:{dead}")
    shown = omsgw_cli(gw, "relay-proxy", "get")
    assert f"fallback:      {squid.address()}" in shown and "auth:          digest" in shown
    assert f"username:      {USER}" in shown  # kept: set changes only what it is given
    fetch(env, gw)  # through the fallback
    assert metric(gw, "omsgw_relay_connects_total", relay=f"127.0.0.1:{dead}",
                  result="unreachable") == 1

    omsgw_cli(gw, "relay-proxy", "bypass", "add", "Allowed.Test")
    assert omsgw_cli(gw, "relay-proxy", "bypass", "list").split() == ["allowed.test"]
    gw.wait_event(100, "credentials changed|relay proxy")
    deadline = time.time() + 10
    while True:  # the watcher applies the edit: the next tunnel goes direct
        n = len([l for l in gw.events(100) if "tunnel established" in l])
        fetch(env, gw)
        lines = [l for l in gw.events(100) if "tunnel established" in l]
        if len(lines) > n and "through relay" not in lines[-1]:
            break
        assert time.time() < deadline, gw.text()
        time.sleep(0.2)

    omsgw_cli(gw, "relay-proxy", "clear")
    assert "none (direct connections)" in omsgw_cli(gw, "relay-proxy", "get")
    assert omsgw_cli(gw, "relay-proxy", "bypass", "list").split() == ["allowed.test"]
    omsgw_cli(gw, "relay-proxy", "bypass", "remove", "allowed.test")
    assert omsgw_cli(gw, "relay-proxy", "bypass", "list").strip() == ""
    gw.wait_event(100, "cleared")

    # The tunnel opened through Squid before every change still relays.
    old_tls.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
    data = b""
    while nginx.body not in data:
        chunk = old_tls.recv(4096)
        assert chunk, data
        data += chunk
    old_tls.close()
    squid.wait_log("TCP_TUNNEL/200", f"CONNECT allowed.test:{nginx.port}", USER)
