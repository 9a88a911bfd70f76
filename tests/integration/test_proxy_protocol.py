"""listen.proxy_protocol behind a real HAProxy (send-proxy and send-proxy-v2): the gateway
uses the address the PROXY header carries for clients.allow, limits and logs (issue 10)."""
import os
import socket
import subprocess

import pytest

from gwtest import (EchoServer, Gateway, base_config, free_port, raw_request, recv_exact,
                    stop_process, wait_port)


class HAProxy:
    def __init__(self, directory, gw_port, fronts):
        """fronts: list of (listen_port, 'send-proxy' | 'send-proxy-v2')."""
        os.makedirs(directory, exist_ok=True)
        cfg = ["global", "  maxconn 256", "defaults", "  mode tcp", "  timeout connect 5s",
               "  timeout client 30s", "  timeout server 30s"]
        for i, (port, opt) in enumerate(fronts):
            cfg += [f"frontend fe{i}", f"  bind 127.0.0.1:{port}", f"  default_backend be{i}",
                    f"backend be{i}", f"  server gw 127.0.0.1:{gw_port} {opt}"]
        path = os.path.join(directory, "haproxy.cfg")
        with open(path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        for port, _ in fronts:
            wait_port("127.0.0.1", port)

    def stop(self):
        stop_process(self.proc)


def connect_from(source_ip, port, target, timeout=10):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source_ip, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("pp")
    echo = EchoServer(None, mode="halfclose")
    gw_port = free_port()
    cfg = base_config(gw_port, listen={"address": "127.0.0.1", "port": gw_port, "proxy_protocol": True},
                      allowed_ports=[echo.port], clients={"allow": ["127.0.0.2/32", "127.0.0.1/32"]},
                      limits={"header_timeout_s": 2})
    gw = Gateway(str(root / "gw"), cfg)
    v1, v2 = free_port(), free_port()
    ha = HAProxy(str(root / "haproxy"), gw_port, [(v1, "send-proxy"), (v2, "send-proxy-v2")])
    yield {"gw": gw, "echo": echo, "v1": v1, "v2": v2, "gw_port": gw_port}
    ha.stop()
    assert gw.stop() == 0
    echo.stop()


@pytest.mark.parametrize("front", ["v1", "v2"])
def test_gateway_logs_the_original_client_address(setup, front):
    gw, echo = setup["gw"], setup["echo"]
    s, head = connect_from("127.0.0.2", setup[front], f"allowed.test:{echo.port}")
    local_port = s.getsockname()[1]
    assert head.startswith(b"HTTP/1.1 200"), head
    s.sendall(b"ping through haproxy")
    assert recv_exact(s, 20) == b"ping through haproxy"
    s.close()
    gw.wait_event(103, rf"client=127\.0\.0\.2:{local_port} ")


@pytest.mark.parametrize("front", ["v1", "v2"])
def test_cidr_rule_applies_to_the_address_in_the_header(setup, front):
    gw = setup["gw"]
    s, head = connect_from("127.0.0.3", setup[front], f"allowed.test:{setup['echo'].port}")
    local_port = s.getsockname()[1]
    s.close()
    assert head == b""   # closed without an answer
    gw.wait_event(105, rf"client=127\.0\.0\.3:{local_port} .*reason=client")


def test_connection_without_header_is_closed_with_event_104(setup):
    gw = setup["gw"]
    resp = raw_request("127.0.0.1", setup["gw_port"],
                       f"CONNECT allowed.test:{setup['echo'].port} HTTP/1.1\r\n\r\n".encode())
    assert resp == b""
    gw.wait_event(104, "PROXY")


def test_header_must_arrive_within_header_timeout(setup):
    gw = setup["gw"]
    s = socket.create_connection(("127.0.0.1", setup["gw_port"]), timeout=10)
    s.sendall(b"PROXY TCP4 192.0.2.1 ")   # and nothing more
    assert s.recv(100) == b""             # cut after header_timeout_s (2 s)
    s.close()
    gw.wait_event(104, "header_timeout_s")


def test_local_command_uses_the_real_peer(setup):
    echo = setup["echo"]
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    local = sig + bytes([0x20, 0x00, 0x00, 0x00])
    s = socket.create_connection(("127.0.0.1", setup["gw_port"]), timeout=10)
    s.sendall(local + f"CONNECT allowed.test:{echo.port} HTTP/1.1\r\n\r\n".encode())
    head = s.recv(4096)
    s.close()
    assert head.startswith(b"HTTP/1.1 200")
