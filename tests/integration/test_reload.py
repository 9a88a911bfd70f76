"""Reloads (issue 15, defects 2, 3 and 5): every request counts once in
omsgw_config_reloads_total{result} -- also an unchanged file, which logs one event 100
line and answers "unchanged"; a symlinked --config (an operator's link, the Kubernetes
ConfigMap layout) reloads on its own when the CLI edits it or the link is swapped;
settings reloaded are the settings used (drain_timeout_s at SIGTERM), and the CLI says
exactly which settings need a restart."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

import gwtest
from gwtest import (BIN, EchoServer, Gateway, base_config, free_port, proxy_connect, yaml_dump)

# A CLI change or link swap must be live within this (the service debounces 300 ms).
LIVE_S = 5.0


def omsgw(*args):
    return subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)


def admin_url(gw, path):
    return f"http://127.0.0.1:{gw.config['admin']['port']}{path}"


def reloads(gw):
    """{result: value} of omsgw_config_reloads_total."""
    with urllib.request.urlopen(admin_url(gw, "/metrics"), timeout=5) as r:
        text = r.read().decode()
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'^omsgw_config_reloads_total\{result="(\w+)"\} (\S+)$', text, re.M)}


def post_reload(gw):
    req = urllib.request.Request(admin_url(gw, "/reload"), method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=40) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_until(predicate, what, timeout=LIVE_S):
    gwtest.wait_until(predicate, what, timeout)


def status(gw, target):
    s, st, _ = proxy_connect(gw.host, gw.port, target, timeout=5)
    s.close()
    return st


@pytest.fixture(scope="module")
def echo():
    e = EchoServer(mode="halfclose")
    yield e
    e.stop()


def test_every_reload_request_counts_once_and_unchanged_is_visible(tmp_path):
    gw = Gateway(str(tmp_path / "gw"), base_config(free_port()))
    try:
        assert reloads(gw) == {"success": 0, "failure": 0, "unchanged": 0}
        gw.signal(signal.SIGHUP)
        wait_until(lambda: reloads(gw)["unchanged"] == 1, "SIGHUP counted")
        gw.wait_event(100, r"reload \(SIGHUP\): .* unchanged")
        code, doc = post_reload(gw)
        assert code == 200 and doc["result"] == "unchanged" and doc["changed"] is False, doc
        r = omsgw("reload", "--config", gw.config_path)
        assert r.returncode == 0 and "no change" in r.stdout, r.stderr
        assert reloads(gw) == {"success": 0, "failure": 0, "unchanged": 3}
        assert len(gw.events(100)) >= 3 and len([l for l in gw.events(100) if "unchanged" in l]) == 3
        gw.write_config(base_config(gw.port, admin=gw.config["admin"], mode="report"))
        wait_until(lambda: reloads(gw)["success"] == 1, "file change counted")
        code, doc = post_reload(gw)
        assert doc["result"] == "unchanged", doc
        with open(gw.config_path, "a") as f:
            f.write("bogus_key: 1\n")
        wait_until(lambda: reloads(gw)["failure"] == 1, "a refused file change counted")
        code, doc = post_reload(gw)
        assert code == 422 and doc["result"] == "failure" and doc["errors"], doc
        assert reloads(gw) == {"success": 1, "failure": 2, "unchanged": 4}
    finally:
        assert gw.stop() == 0


def start_linked(tmp_path, echo, layout):
    """A gateway whose --config is a symlink: 'link' into another directory, or the
    ConfigMap layout (omsgw.yaml -> ..data/omsgw.yaml, ..data -> ..v1)."""
    port = free_port()
    cfg = base_config(port, allowed_ports=[echo.port],
                      allowed_hosts=["allowed.test", "other.test"],
                      upstream={"resolve": {"allowed.test": "127.0.0.1",
                                            "other.test": "127.0.0.1"}})
    root = tmp_path / "etc"
    if layout == "link":
        (tmp_path / "real").mkdir()
        (tmp_path / "real" / "gw.yaml").write_text(yaml_dump(cfg) + "\n")
        root.mkdir()
        os.symlink(str(tmp_path / "real" / "gw.yaml"), root / "omsgw.yaml")
    else:
        (root / "..v1").mkdir(parents=True)
        (root / "..v1" / "omsgw.yaml").write_text(yaml_dump(cfg) + "\n")
        os.symlink("..v1", root / "..data")
        os.symlink("..data/omsgw.yaml", root / "omsgw.yaml")
    log = open(tmp_path / "omsgw.log", "wb")
    gw = Gateway.__new__(Gateway)
    gw.dir, gw.config, gw.port, gw.host = str(tmp_path), cfg, port, "127.0.0.1"
    gw.config_path, gw.log_path, gw.log = str(root / "omsgw.yaml"), str(tmp_path / "omsgw.log"), log
    gw.proc = subprocess.Popen([BIN, "run", "--config", gw.config_path], stdout=log,
                               stderr=subprocess.STDOUT)
    gw.wait_ready()
    return gw


@pytest.mark.parametrize("layout", ["link", "configmap"])
def test_cli_edit_through_a_symlinked_config_applies_without_sighup(tmp_path, echo, layout):
    gw = start_linked(tmp_path, echo, layout)
    try:
        assert status(gw, f"other.test:{echo.port}") == 200
        if layout == "configmap":
            # A ConfigMap mount is read-only: the CLI names it; kubelet swaps ..data.
            v2 = yaml_dump({**gw.config, "allowed_hosts": ["allowed.test"]}) + "\n"
            root = os.path.dirname(gw.config_path)
            os.mkdir(os.path.join(root, "..v2"))
            with open(os.path.join(root, "..v2", "omsgw.yaml"), "w") as f:
                f.write(v2)
            os.symlink("..v2", os.path.join(root, "..data_tmp"))
            os.rename(os.path.join(root, "..data_tmp"), os.path.join(root, "..data"))
        else:
            r = omsgw("allowed-host", "remove", "other.test", "--config", gw.config_path)
            assert r.returncode == 0, r.stderr
            assert os.path.islink(gw.config_path)
        wait_until(lambda: status(gw, f"other.test:{echo.port}") == 403, "the removal applied")
        assert status(gw, f"allowed.test:{echo.port}") == 200
        gw.wait_event(100, r"configuration reloaded \(file change\)")
    finally:
        assert gw.stop() == 0


def test_drain_uses_the_drain_timeout_in_force_after_a_reload(tmp_path, echo):
    cfg = base_config(free_port(), allowed_ports=[echo.port], limits={"drain_timeout_s": 1})
    gw = Gateway(str(tmp_path / "gw"), cfg)
    try:
        gw.write_config({**cfg, "limits": {**cfg["limits"], "drain_timeout_s": 600}})
        gw.wait_event(100, "configuration reloaded")
        s, st, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{echo.port}")
        assert st == 200, head
        gw.signal(signal.SIGTERM)
        gw.wait_event(100, r"draining: 1 live connection\(s\), up to 600 s")
        s.close()
    finally:
        assert gw.stop() == 0


def test_the_cli_names_exactly_the_settings_that_need_a_restart(tmp_path):
    path = str(tmp_path / "omsgw.yaml")
    with open(path, "w") as f:
        f.write("mode: enforce\n")
    for key, value in (("ProxyProtocol", "true"), ("admin.token_file", ""),
                       ("limits.drain_timeout_s", "5"), ("MaxConnections", "10")):
        r = omsgw("config", "set", key, value, "--config", path)
        assert r.returncode == 0, (key, r.stderr)
        assert "restart" not in r.stdout, (key, r.stdout)
    for key, value in (("ListenPort", "9999"), ("listen.address", "127.0.0.1"),
                       ("AdminPort", "9998"), ("admin.address", "127.0.0.1")):
        r = omsgw("config", "set", key, value, "--config", path)
        assert r.returncode == 0, (key, r.stderr)
        assert "takes effect at the next restart" in r.stdout, (key, r.stdout)
