"""SPEC.md relay_proxy: what a relay's 407 challenges may get from the gateway when
libcurl answers them (audit findings 1, 3 and 9), against scripted relays on loopback:
- "NTLM is NTLMv2 only" wherever the NTLM challenge sits: after another challenge on the
  same Proxy-Authenticate line (RFC 9110 11.6.1), after a quoted comma, on another line,
  and however long it is;
- bounded attempts: a relay that answers every NTLM type-3 with a new type-2, or every
  Digest answer with stale=true, gets the answers the scheme needs and no more (each may
  be a logon attempt at a domain controller), then an authentication failure;
- a broken answer is described as on our own CONNECT (Beast): "answer header too
  large", "not an HTTP answer", never "refused ...: 200".
"""
import base64
import re
import urllib.request

import pytest

from gwtest import Gateway, base_config, free_port, proxy_connect
from relays import NTLM_V1_CHALLENGE, NTLM_V2_CHALLENGE, ChallengingRelay, RawAnswerRelay

USER = "svc-omsgw"
NTLM_USER = "CORP\\svc-omsgw"
PASSWORD = "Pw-5eeded-challenge"  # the secret that must never be printed
TARGET = "allowed.test:443"


@pytest.fixture
def gateways():
    started = []
    yield started
    for g in started:
        assert g.stop() == 0, g.text()
        assert PASSWORD not in g.text(), f"the password appears in the omsgw log:\n{g.text()}"


@pytest.fixture
def relays():
    started = []
    yield started
    for r in started:
        r.stop()


def start_gw(gateways, tmp_path, relay):
    cfg = base_config(free_port())
    cfg["relay_proxy"] = relay
    g = Gateway(str(tmp_path / f"gw{len(gateways)}"), cfg)
    gateways.append(g)
    return g


def credentials(tmp_path, auth, user=USER):
    path = tmp_path / "relay.pw"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return {"auth": auth, "username": user, "password_file": str(path)}


def connect_status(gw):
    s, status, _ = proxy_connect("127.0.0.1", gw.port, TARGET, timeout=20)
    s.close()
    return status


def metric(gw, name, **labels):
    url = f"http://127.0.0.1:{gw.config['admin']['port']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{labels} in /metrics:\n{text}")


def assert_auth_failure(gw, relay, detail):
    """502 for the agent, event 403 with detail, one auth_failed attempt (no fallback)."""
    assert connect_status(gw) == 502
    gw.wait_event(403, rf"relay {re.escape(relay.relay())} refused CONNECT allowed\.test:443: "
                       rf"407 .*{detail}")
    assert metric(gw, "omsgw_relay_connects_total", relay=relay.relay(),
                  result="auth_failed") == 1


def ntlm_types(authorizations):
    """The NTLM message type of each Proxy-Authorization (1 negotiate, 3 authenticate)."""
    return [base64.b64decode(a[5:])[8] for a in authorizations]


# ---------------------------------------------------------------- NTLMv1 anywhere


# libcurl takes a type-2 of any length: its flags must be judged however long it is.
V1_PADDED = base64.b64encode(base64.b64decode(NTLM_V1_CHALLENGE) + bytes(6000)).decode()

V1_LAYOUTS = {
    # The audit's case: another challenge first on the same line.
    "after_basic": ['Basic realm="x", NTLM {v1}'],
    # A quoted comma before it, and a Digest challenge with auth-params.
    "after_quoted_comma": ['Digest realm="a, NTLM b", nonce="n1", qop="auth", NTLM {v1}'],
    # On the second Proxy-Authenticate line, after a bare offer.
    "second_line": ['Basic realm="x"', "Negotiate, NTLM {v1}"],
    "padded": ["NTLM {padded}"],
}


@pytest.mark.parametrize("layout", sorted(V1_LAYOUTS))
@pytest.mark.parametrize("auth", ["ntlm", "auto"])
def test_ntlmv1_challenge_anywhere_in_the_offers_gets_no_type3(gateways, relays, tmp_path,
                                                               auth, layout):
    offers = [o.format(v1=NTLM_V1_CHALLENGE, padded=V1_PADDED) for o in V1_LAYOUTS[layout]]
    relay = ChallengingRelay(lambda authorization, n: offers if authorization else ["NTLM"])
    relays.append(relay)
    gw = start_gw(gateways, tmp_path, {"address": relay.address(),
                                       **credentials(tmp_path, auth, NTLM_USER)})
    assert_auth_failure(gw, relay, "NTLMv1")
    # The type-1 (negotiate) message only: never a type-3 answer to the challenge.
    assert ntlm_types(relay.authorizations) == [1], relay.authorizations


# ---------------------------------------------------------------- bounded rounds


@pytest.mark.parametrize("auth", ["ntlm", "auto"])
def test_relay_that_answers_every_type3_with_a_new_type2_gets_one_type3(gateways, relays,
                                                                        tmp_path, auth):
    relay = ChallengingRelay(
        lambda authorization, n: [f"NTLM {NTLM_V2_CHALLENGE}"] if authorization else ["NTLM"])
    relays.append(relay)
    gw = start_gw(gateways, tmp_path, {"address": relay.address(),
                                       **credentials(tmp_path, auth, NTLM_USER)})
    assert_auth_failure(gw, relay, "ntlm: relay kept asking for credentials after 2 answers")
    assert ntlm_types(relay.authorizations) == [1, 3], relay.authorizations


def test_relay_that_says_stale_to_every_digest_answer_gets_two(gateways, relays, tmp_path):
    relay = ChallengingRelay(
        lambda authorization, n: [f'Digest realm="x", nonce="n{n}", qop="auth", stale=true'])
    relays.append(relay)
    gw = start_gw(gateways, tmp_path, {"address": relay.address(),
                                       **credentials(tmp_path, "digest")})
    assert_auth_failure(gw, relay, "digest: relay kept asking for credentials after 2 answers")
    assert len(relay.authorizations) == 2, relay.authorizations
    assert all(a.startswith("Digest ") for a in relay.authorizations)


def test_digest_refused_without_stale_is_still_credentials_refused(gateways, relays, tmp_path):
    relay = ChallengingRelay(lambda authorization, n: [f'Digest realm="x", nonce="n{n}"'])
    relays.append(relay)
    gw = start_gw(gateways, tmp_path, {"address": relay.address(),
                                       **credentials(tmp_path, "digest")})
    assert_auth_failure(gw, relay, r"\(digest credentials refused\)")
    assert len(relay.authorizations) == 1, relay.authorizations


# ---------------------------------------------------------------- broken answers


def huge_header():
    yield b"HTTP/1.1 200 Connection established\r\n"
    for i in range(100000):  # about 5 MB of header lines
        yield b"X-Junk-%06d: " % i + b"a" * 40 + b"\r\n"


def endless_continue():
    for _ in range(100000):
        yield b"HTTP/1.1 100 Continue\r\n\r\n"


def not_http():
    yield b"\x16\x03\x01\x00\x05hello garbage\r\n\r\n"


BROKEN = {
    "huge_header": (huge_header, r"answer header too large"),
    "not_http": (not_http, r"not an HTTP answer"),
}


@pytest.mark.parametrize("auth", ["none", "digest"])  # our own CONNECT (Beast), libcurl's
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_answer_is_described_alike_on_both_paths(gateways, relays, tmp_path, name, auth):
    answer, wording = BROKEN[name]
    relay = RawAnswerRelay(answer)
    relays.append(relay)
    creds = credentials(tmp_path, auth) if auth != "none" else {}
    gw = start_gw(gateways, tmp_path, {"address": relay.address(), **creds})
    assert connect_status(gw) == 502
    line = gw.wait_event(403, rf"relay {re.escape(relay.relay())} gave no valid answer to "
                              rf"CONNECT allowed\.test:443: {wording}")
    assert "refused CONNECT" not in line and "response 0" not in line, line
    assert metric(gw, "omsgw_relay_connects_total", relay=relay.relay(), result="refused") == 1


def test_interim_answers_to_libcurl_are_not_a_refusal(gateways, relays, tmp_path):
    relay = RawAnswerRelay(endless_continue)
    relays.append(relay)
    gw = start_gw(gateways, tmp_path, {"address": relay.address(),
                                       **credentials(tmp_path, "digest")})
    assert connect_status(gw) == 502
    line = gw.wait_event(403, rf"relay {re.escape(relay.relay())} gave no valid answer to "
                              r"CONNECT allowed\.test:443: interim answer 100, which libcurl")
    assert "refused CONNECT" not in line, line
    assert metric(gw, "omsgw_relay_connects_total", relay=relay.relay(), result="refused") == 1
