"""Issue 15 defect 5 (capacity): limits.max_connections and max_connections_per_client
apply at reload, including max_connections: 0 (capacity derived from the open-files
limit), which used to keep the start-up value."""
import signal
import time

import pytest

from gwtest import EchoServer, Gateway, base_config, free_port, proxy_connect


def status_until(gw, echo, want, timeout=10):
    """CONNECTs until the answer is `want` (a reload reaches the listener a moment after
    its event); returns the last status seen and the open sockets."""
    deadline = time.monotonic() + timeout
    while True:
        s, status, _ = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{echo.port}")
        if status == want or time.monotonic() > deadline:
            return status, s
        s.close()
        time.sleep(0.1)


@pytest.mark.parametrize("key,first,second", [("max_connections", 1, 0),
                                              ("max_connections_per_client", 1, 5)])
def test_connection_limits_apply_at_reload(tmp_path, key, first, second):
    echo = EchoServer(None, mode="halfclose")
    port = free_port()
    cfg = base_config(port, allowed_ports=[echo.port], limits={key: first})
    gw = Gateway(str(tmp_path / "gw"), cfg)
    held = []
    try:
        s, status, _ = proxy_connect("127.0.0.1", port, f"allowed.test:{echo.port}")
        held.append(s)
        assert status == 200
        s, status, _ = proxy_connect("127.0.0.1", port, f"allowed.test:{echo.port}")
        s.close()
        assert status == 503
        gw.wait_event(400, f"{key} \\({first}\\) reached")
        cfg["limits"][key] = second
        gw.write_config(cfg)
        gw.signal(signal.SIGHUP)
        gw.wait_event(100, "configuration reloaded")
        status, s = status_until(gw, echo, 200)
        held.append(s)
        assert status == 200
    finally:
        for s in held:
            s.close()
        assert gw.stop() == 0
        echo.stop()
