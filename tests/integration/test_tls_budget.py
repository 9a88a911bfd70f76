"""The TLS inspection budget (net/inspection_budget.hpp): the handshake buffers of all
tunnels together hold at most 16 KiB per tunnel of the capacity (256 MiB at most). A
client that trickles a large ClientHello and stalls holds what it sent until
handshake_timeout_s; past the budget, the tunnel whose buffer would grow is refused
(event 400, reason=limit) instead of the gateway's memory growing with every such
client. Closing the stalled tunnels gives their memory back at once.

Real binary, real sockets: stalled clients are raw sockets sending the start of a
ClientHello record through CONNECT to a silent server; the good client is
`openssl s_client` to a real `openssl s_server`."""
import socket

from gwtest import EchoServer, proxy_connect, read_until_closed, wait_until
from test_tls import PAGE, assert_counts, env, msg, s_client, start_gw  # noqa: F401 (fixtures)

CAPACITY = 8
BUDGET = CAPACITY * 16 * 1024  # 128 KiB
BODY = 18000  # one record's body, near the 2^14 + 2048 a record may carry


def stalled_hello():
    """Two handshake records of BODY bytes each, the start of a ClientHello that declares
    60,000: the gateway keeps them until the rest of the message comes, which it never
    does."""
    declared = 60000
    first = bytes([1]) + declared.to_bytes(3, "big") + bytes(BODY - 4)
    header = bytes([22, 3, 1]) + BODY.to_bytes(2, "big")
    return header + first + header + bytes(BODY)


def stall(gw, port):
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{port}", timeout=20)
    assert status == 200, head
    s.sendall(stalled_hello())
    return s


def closed_by_gateway(s, timeout=5):
    s.settimeout(timeout)
    try:
        return read_until_closed(s) == b""
    except socket.timeout:
        return False


def test_stalled_handshakes_past_the_budget_are_refused_and_give_it_back(env, start_gw):
    silent = EchoServer(None, mode="length")  # reads a length it never gets: silent
    gw = start_gw(ports=(silent.port,),
                  limits={"max_connections": CAPACITY, "handshake_timeout_s": 120})
    held, refused = [], None
    try:
        # Each stalled tunnel holds 36,000-72,000 bytes (the buffer doubles as bytes come
        # in): the budget (131,072) takes 1 to 3 of them; the next is closed at once.
        for _ in range(CAPACITY - 1):
            s = stall(gw, silent.port)
            line = None
            try:
                line = gw.wait_event(400, "reason=limit", timeout=1)
            except AssertionError:
                held.append(s)
                continue
            refused = s
            break
        assert refused is not None, gw.text()
        assert 1 <= len(held) <= 3, len(held)
        assert "TLS inspection over its memory budget: handshake buffers of all tunnels " \
               f"hold" in msg(line) and f"the most the gateway allows ({BUDGET})" in msg(line)
        assert closed_by_gateway(refused)
        gw.wait_event(100, "reason=inspection_reject")
        assert_counts(gw, rejections={"limit": 1})
        # The stalled tunnels are still up (nothing refused them but the one).
        for s in held:
            s.settimeout(0.2)
            try:
                assert s.recv(1) != b""
            except socket.timeout:
                pass
    finally:
        for s in held:
            s.close()
        if refused:
            refused.close()
    # Their memory is back: as many stalled tunnels fit again, and a real handshake passes.
    wait_until(lambda: "omsgw_active_client_connections 0" in scrape_text(gw), "tunnels closed")
    again = [stall(gw, silent.port) for _ in range(len(held))]
    try:
        out, err = s_client(env, gw, "-tls1_2")
        assert out.startswith(PAGE), err
        gw.wait_event(107)
        assert len(gw.events(400)) == 1, gw.text()
    finally:
        for s in again:
            s.close()
        silent.stop()
    assert_counts(gw, rejections={"limit": 1})


def scrape_text(gw):
    import urllib.request
    url = f"http://127.0.0.1:{gw.config['admin']['port']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()
