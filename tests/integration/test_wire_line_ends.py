"""Issue 13, item 5: requests whose lines end in a bare LF are tunnelled (RFC 9112 2.2,
as Squid and Tinyproxy do), the forms the RFC refuses still get 400, and the close line
names who closed first. Raw sockets against the real binary."""
import socket

import pytest

from gwtest import EchoServer, Gateway, base_config, free_port, raw_request, read_until_closed, status_of


@pytest.fixture(scope="module")
def plain():
    echo = EchoServer(None, mode="halfclose")
    yield echo
    echo.stop()


@pytest.fixture
def gw(plain, tmp_path):
    port = free_port()
    cfg = base_config(port, allowed_ports=[plain.port], allowed_hosts=["a.test"],
                      upstream={"resolve": {"a.test": "127.0.0.1"}})
    g = Gateway(str(tmp_path / "gw"), cfg)
    yield g
    g.stop()


def tunnel_round_trip(gw, request):
    """Sends request + a payload, half-closes, returns all the gateway sent back."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    try:
        s.sendall(request + b"payload")
        s.shutdown(socket.SHUT_WR)
        return read_until_closed(s)
    finally:
        s.close()


@pytest.mark.parametrize("form", [
    b"CONNECT a.test:{port} HTTP/1.0\n\n",
    b"CONNECT a.test:{port} HTTP/1.1\nHost: a.test:{port}\nUser-Agent: x\n\n",
    b"CONNECT a.test:{port} HTTP/1.1\r\nHost: a.test:{port}\n\r\n",
    b"CONNECT a.test:{port} HTTP/1.1\nHost: a.test:{port}\r\n\n",
], ids=["lf-only-http10", "lf-only-headers", "mixed-crlf-then-lf", "mixed-lf-then-crlf"])
def test_bare_lf_requests_are_tunnelled(gw, plain, form):
    answer = tunnel_round_trip(gw, form.replace(b"{port}", str(plain.port).encode()))
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\npayload"
    gw.wait_event(100, "reason=client_closed.*tunnel closed")


@pytest.mark.parametrize("form", [
    b"CONNECT a.test:{port} HTTP/1.1\nX-Folded: a\n b\n\n",
    b"CONNECT a.test:{port} HTTP/1.1\r\nX-Folded: a\r\n\tb\r\n\r\n",
    b"CONNECT a.test:{port} HTTP/1.1\nHost : a.test\n\n",
    b"CONNECT a.test:{port} HTTP/1.1\rHost: a.test\r\n\r\n",
], ids=["obs-fold-lf", "obs-fold-crlf", "space-before-colon", "bare-cr"])
def test_refused_forms_still_get_400(gw, plain, form):
    resp = raw_request("127.0.0.1", gw.port, form.replace(b"{port}", str(plain.port).encode()))
    assert status_of(resp) == 400
    gw.wait_event(104, "malformed")


def test_a_client_that_half_closes_first_is_named_in_the_close_line(gw, plain):
    # The echo server closes once it has echoed to EOF; here the client's FIN comes
    # first, so the line must say client_closed, never upstream_closed.
    answer = tunnel_round_trip(gw, f"CONNECT a.test:{plain.port} HTTP/1.1\r\n\r\n".encode())
    assert answer.endswith(b"payload")
    gw.wait_event(100, "reason=client_closed.*tunnel closed")
    assert "reason=upstream_closed" not in gw.text()
