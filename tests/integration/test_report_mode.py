"""mode: report lets policy refusals through, logs them with would_deny=true and counts
them; limits and malformed input still apply; switching modes is live (issue 10)."""
import time
import urllib.request

from gwtest import (EchoServer, Gateway, base_config, free_port, proxy_connect, raw_request,
                    recv_exact, status_of)


def metric(gw, name, labels=""):
    text = urllib.request.urlopen(f"http://127.0.0.1:{gw.config['admin']['port']}/metrics",
                                  timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    return None


def test_report_mode_lets_refusals_through_and_counts_them(tmp_path):
    echo = EchoServer(None, mode="halfclose")
    other = EchoServer(None, mode="halfclose")
    port = free_port()
    cfg = base_config(port, mode="report", allowed_ports=[echo.port],
                      upstream={"resolve": {"allowed.test": "127.0.0.1", "denied.test": "127.0.0.1"}},
                      clients={"allow": ["10.0.0.0/8"]})
    gw = Gateway(str(tmp_path / "gw"), cfg)
    try:
        # host not on the list, and client outside clients.allow: both let through
        s, status, _ = proxy_connect("127.0.0.1", port, f"denied.test:{echo.port}")
        assert status == 200
        s.sendall(b"abc")
        assert recv_exact(s, 3) == b"abc"
        s.close()
        gw.wait_event(105, "reason=host would_deny=true")
        gw.wait_event(105, "reason=client would_deny=true")
        # port not allowed: let through as well
        s, status, _ = proxy_connect("127.0.0.1", port, f"allowed.test:{other.port}")
        assert status == 200
        s.close()
        gw.wait_event(105, "reason=port would_deny=true")
        assert metric(gw, "omsgw_report_would_deny_total", '{reason="host"}') == 1
        assert metric(gw, "omsgw_report_would_deny_total", '{reason="port"}') == 1
        assert metric(gw, "omsgw_report_would_deny_total", '{reason="client"}') == 2
        assert metric(gw, "omsgw_rejections_total", '{reason="host"}') == 0
        # malformed input still gets its 4xx in report mode
        assert status_of(raw_request("127.0.0.1", port, b"GARBAGE\r\n\r\n")) in (400, 405)

        # switch to enforce live: the same request is refused, no restart
        cfg["mode"] = "enforce"
        cfg["clients"] = {"allow": ["127.0.0.0/8"]}
        gw.write_config(cfg)
        gw.wait_event(100, "configuration reloaded")
        deadline = time.time() + 5
        while True:
            resp = raw_request("127.0.0.1", port, f"CONNECT denied.test:{echo.port} HTTP/1.1\r\n\r\n".encode())
            if status_of(resp) == 403 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert status_of(resp) == 403
        assert metric(gw, "omsgw_rejections_total", '{reason="host"}') == 1
    finally:
        assert gw.stop() == 0
        echo.stop()
        other.stop()
