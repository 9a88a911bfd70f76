"""Agent-like clients for test_vrrp.py, run inside the agents' network namespace
(`ip netns exec NS python3 netns_agents.py PROXY_HOST PROXY_PORT TARGET CA_FILE`).

SHORT threads each open a tunnel through the proxy (CONNECT, TLS handshake with the
endpoint, one GET, close), again and again; LONG threads keep one tunnel open for
LONG_TUNNEL_S and send a GET on it every 100 ms. The endpoint's body is the address it
was reached on, which names the gateway that relayed the tunnel. Every attempt is one
JSON line on stdout: kind, start, connected, end (time.time(), a clock shared with the
test), node (the body, or null before the first answer), ok, error. Runs until
stdin closes.
"""
import json
import os
import socket
import ssl
import sys
import threading
import time

from gwtest import open_tunnel, read_head

SHORT = 6
LONG = 2
LONG_TUNNEL_S = 1.5
PAUSE_S = 0.05            # between a thread's attempts: keeps the shared CPU frugal
TIMEOUT_S = 15            # connect (SYN retransmits included) and every read

out_lock = threading.Lock()
stopping = threading.Event()


def emit(record):
    with out_lock:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def connect(proxy, target, ctx, a):
    s = socket.create_connection(proxy, timeout=TIMEOUT_S)
    a["connected"] = time.time()
    open_tunnel(s, target)
    return ctx.wrap_socket(s, server_hostname=target.split(":")[0])


def get(tls, host, close):
    tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n"
                f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode())
    head, body = read_head(tls, "the response head")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"endpoint answered {head[:40]!r}")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                  if l.lower().startswith(b"content-length:")][0])
    while len(body) < length:
        chunk = tls.recv(4096)
        if not chunk:
            raise EOFError("closed in the body")
        body += chunk
    return body.decode()


def attempt(kind, proxy, target, ctx):
    a = {"kind": kind, "start": time.time(), "connected": None, "end": None, "node": None,
         "ok": False, "error": None}
    host = target.split(":")[0]
    try:
        tls = connect(proxy, target, ctx, a)
        try:
            if kind == "short":
                a["node"] = get(tls, host, close=True)
            else:
                until = time.time() + LONG_TUNNEL_S
                while True:
                    node = get(tls, host, close=time.time() >= until)
                    if a["node"] not in (None, node):
                        raise RuntimeError(f"tunnel moved from {a['node']} to {node}")
                    a["node"] = node
                    if time.time() >= until:
                        break
                    time.sleep(0.1)
        finally:
            tls.close()
        a["ok"] = True
    except Exception as e:  # noqa: BLE001 - every failure is reported, with its reason
        a["error"] = f"{type(e).__name__}: {e}"
    a["end"] = time.time()
    emit(a)
    return a["ok"]


def loop(kind, proxy, target, ctx):
    while not stopping.is_set():
        attempt(kind, proxy, target, ctx)
        time.sleep(PAUSE_S)


def main():
    host, port, target, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ctx = ssl.create_default_context(cafile=ca)
    threads = [threading.Thread(target=loop, args=(k, (host, port), target, ctx), daemon=True)
               for k in ["short"] * SHORT + ["long"] * LONG]
    for t in threads:
        t.start()
    sys.stdin.read()  # the test closes stdin to stop the agents
    stopping.set()
    for t in threads:
        t.join(TIMEOUT_S + LONG_TUNNEL_S + 5)
    os._exit(0)


if __name__ == "__main__":
    main()
