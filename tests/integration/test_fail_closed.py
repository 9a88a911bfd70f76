"""Fail closed (issue 15, defects 1, 8 and 9) on the real binary: a truncated
configuration never widens the policy (refused at start and at reload, the policy in
force kept); the admin endpoint refuses foreign Host headers (421, no DNS rebinding)
and, with admin.token_file, every path but /healthz and /readyz without the bearer
token (401); the process never writes a core dump (secrets in memory)."""
import os
import re
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from gwtest import BIN, EchoServer, Gateway, base_config, free_port, proxy_connect, wait_until


def omsgw(*args, cwd=None):
    return subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60, cwd=cwd)


def admin_get(gw, path, headers=None):
    """(status, headers, body) of a GET on the admin port."""
    req = urllib.request.Request(f"http://127.0.0.1:{gw.config['admin']['port']}{path}",
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def reload_failures(gw, token=None):
    _, _, text = admin_get(gw, "/metrics",
                           {"Authorization": f"Bearer {token}"} if token else None)
    m = re.search(r'^omsgw_config_reloads_total\{result="failure"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else -1


@pytest.fixture(scope="module")
def echo():
    e = EchoServer()
    yield e
    e.stop()


@pytest.mark.parametrize("text", ["", "\n\n", "# every line a comment\n#listen: {port: 1}\n"])
def test_a_file_without_a_mapping_is_refused_by_run_and_check_config(tmp_path, text):
    path = tmp_path / "omsgw.yaml"
    path.write_text(text)
    r = omsgw("check-config", "--config", str(path))
    assert r.returncode != 0, r.stdout
    r = omsgw("run", "--config", str(path))
    assert r.returncode == 1
    assert "event_id=401" in r.stderr and "not started" in r.stderr, r.stderr


def test_an_empty_mapping_still_means_the_defaults(tmp_path):
    path = tmp_path / "omsgw.yaml"
    path.write_text("{}\n")
    r = omsgw("check-config", "--config", str(path))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("truncation", [
    "", "# emptied by a failed deploy\n",
    # Cut right after a section's key: that used to load the section's defaults.
    "allowed_hosts: [allowed.test]\nallowed_ports: [{port}]\nclients:\n",
    "allowed_hosts: [allowed.test]\nallowed_ports: [{port}]\nclients:\n  allow:\n"])
def test_truncating_the_file_at_reload_keeps_the_policy_in_force(tmp_path, echo, truncation):
    # Only 192.0.2.0/24 may connect: the test's own 127.0.0.1 is a refused client.
    cfg = base_config(free_port(), allowed_ports=[echo.port],
                      clients={"allow": ["192.0.2.0/24"]})
    gw = Gateway(str(tmp_path / "gw"), cfg)
    try:
        def refused():  # closed (or reset) with no HTTP answer: clients.allow
            try:
                s, status, _ = proxy_connect(gw.host, gw.port, f"allowed.test:{echo.port}",
                                             timeout=5)
            except ConnectionResetError:
                return True
            s.close()
            return status is None
        assert refused()
        with open(gw.config_path, "w") as f:
            f.write(truncation.format(port=echo.port))
        gw.signal(signal.SIGHUP)
        wait_until(lambda: reload_failures(gw) >= 1, "the truncated file refused")
        gw.wait_event(401)
        assert refused(), "a truncated file widened clients.allow"
        assert not [l for l in gw.events(100) if "configuration reloaded" in l]
    finally:
        assert gw.stop() == 0


def test_admin_refuses_a_host_header_that_is_a_name(tmp_path):
    gw = Gateway(str(tmp_path / "gw"), base_config(free_port()))
    try:
        port = gw.config["admin"]["port"]
        for host in ("attacker.example", f"rebind.example:{port}"):
            status, _, _ = admin_get(gw, "/status", {"Host": host})
            assert status == 421, host
        for host in ("localhost", f"127.0.0.1:{port}", f"[::1]:{port}", f"localhost:{port}"):
            status, _, _ = admin_get(gw, "/status", {"Host": host})
            assert status == 200, host
    finally:
        assert gw.stop() == 0


def gateway_with_token_file(tmp_path, mode, wait=True):
    """A gateway whose admin.token_file holds "s3cr3t-t0ken" with the given file mode."""
    token_file = tmp_path / "admin.token"
    token_file.write_text("s3cr3t-t0ken\n")
    os.chmod(token_file, mode)
    cfg = base_config(free_port(), admin={"port": free_port(), "token_file": str(token_file)})
    return Gateway(str(tmp_path / "gw"), cfg, wait=wait)


def test_admin_token_guards_every_path_but_the_health_checks(tmp_path):
    gw = gateway_with_token_file(tmp_path, 0o600)
    try:
        for path in ("/healthz", "/readyz"):
            assert admin_get(gw, path)[0] == 200, path
        for path in ("/metrics", "/status"):
            status, headers, _ = admin_get(gw, path)
            assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer"), path
            assert admin_get(gw, path, {"Authorization": "Bearer wrong"})[0] == 401, path
            assert admin_get(gw, path, {"Authorization": "Bearer s3cr3t-t0ken"})[0] == 200, path
        # The CLI reads the token from the configuration and is let in.
        r = omsgw("status", "--config", gw.config_path)
        assert r.returncode == 0, r.stderr
        r = omsgw("reload", "--config", gw.config_path)
        assert r.returncode == 0, r.stderr
        assert "s3cr3t-t0ken" not in gw.text()
    finally:
        assert gw.stop() == 0


def test_a_world_readable_token_file_is_a_configuration_error(tmp_path):
    gw = gateway_with_token_file(tmp_path, 0o644, wait=False)
    assert gw.proc.wait(30) == 1
    gw.log.close()
    assert "admin.token_file" in gw.text() and "event_id=401" in gw.text()
    assert "s3cr3t-t0ken" not in gw.text()


def unlimited_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def cores(directory):
    return [n for n in os.listdir(directory) if n == "core" or n.startswith("core.")]


def test_a_crashing_gateway_leaves_no_core_dump(tmp_path):
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core_pattern {pattern!r} does not write into the working directory")
    # Control: on this machine an ordinary process that aborts does leave a core.
    control = tmp_path / "control"
    control.mkdir()
    subprocess.run([sys.executable, "-c", "import os; os.abort()"], cwd=control,
                   preexec_fn=unlimited_core, timeout=60)
    assert cores(control), "the control process left no core: the check below would prove nothing"
    run_dir = tmp_path / "gw"
    gw = Gateway(str(run_dir), base_config(free_port()))
    gw.proc.kill()  # replaced below by a gateway started in run_dir with cores allowed
    gw.proc.wait()
    gw.log.close()
    log = open(run_dir / "abort.log", "wb")
    proc = subprocess.Popen([BIN, "run", "--config", gw.config_path], cwd=run_dir,
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=unlimited_core,
                            env={**os.environ, "ASAN_OPTIONS": "disable_coredump=0"})
    deadline = time.time() + 15
    while "event_id=101" not in (run_dir / "abort.log").read_text(errors="replace"):
        assert proc.poll() is None and time.time() < deadline, (run_dir / "abort.log").read_text()
        time.sleep(0.05)
    proc.send_signal(signal.SIGABRT)
    assert proc.wait(30) == -signal.SIGABRT
    log.close()
    assert not cores(run_dir), "omsgw wrote a core dump (PR_SET_DUMPABLE)"
