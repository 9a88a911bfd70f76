"""Bad configuration: check-config and run name the key and line (event 401)."""
import os
import subprocess

from gwtest import BIN, base_config, free_port, Gateway


def write(tmp_path, text):
    p = tmp_path / "omsgw.yaml"
    p.write_text(text)
    return str(p)


def test_check_config_names_key_line_and_column_and_exits_1(tmp_path):
    path = write(tmp_path, "listen:\n  address: 127.0.0.1\n  port: text\n")
    r = subprocess.run([BIN, "check-config", "--config", path], capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{path}:3:" in r.stderr
    assert "listen.port" in r.stderr


def test_check_config_rejects_out_of_range_port_and_unknown_key(tmp_path):
    path = write(tmp_path, "listen: { port: 70000 }\nlisten_typo: 1\n")
    r = subprocess.run([BIN, "check-config", "--config", path], capture_output=True, text=True)
    assert r.returncode == 1
    assert "listen.port" in r.stderr and "listen_typo" in r.stderr


def test_check_config_accepts_the_spec_example(tmp_path):
    path = write(tmp_path, "listen: { address: 0.0.0.0, port: 8080, proxy_protocol: false }\n"
                           "allowed_ports: [443]\nmode: enforce\n")
    r = subprocess.run([BIN, "check-config", "--config", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_run_with_bad_config_exits_nonzero_with_event_401(tmp_path):
    path = write(tmp_path, "limits:\n  idle_timeout_s: -5\n")
    r = subprocess.run([BIN, "run", "--config", path], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "event_id=401" in r.stderr and "limits.idle_timeout_s" in r.stderr


def test_run_with_missing_explicit_config_exits_nonzero(tmp_path):
    r = subprocess.run([BIN, "run", "--config", str(tmp_path / "nope.yaml")], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode != 0
    assert "event_id=401" in r.stderr


def test_unknown_command_and_help(tmp_path):
    r = subprocess.run([BIN, "frobnicate"], capture_output=True, text=True)
    assert r.returncode != 0 and "unknown command" in r.stderr
    r = subprocess.run([BIN, "run", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "usage: omsgw run" in r.stdout


def test_bad_reload_keeps_running_configuration(tmp_path):
    import signal
    port = free_port()
    g = Gateway(str(tmp_path / "gw"), base_config(port))
    try:
        with open(g.config_path, "a") as f:
            f.write("bogus_key: 1\n")
        g.signal(signal.SIGHUP)
        g.wait_event(401, "bogus_key")
        g.wait_event(401, "running configuration.*stays")
        assert g.proc.poll() is None
    finally:
        assert g.stop() == 0


def test_check_config_refuses_a_relay_password_file_others_can_read(tmp_path):
    pw = tmp_path / "relay.pw"
    pw.write_text("s3cret-relay-pass\n")
    os.chmod(pw, 0o644)
    path = write(tmp_path, "relay_proxy:\n  address: http://127.0.0.1:3128\n"
                           f"  username: gw\n  password_file: {pw}\n")
    r = subprocess.run([BIN, "check-config", "--config", path], capture_output=True, text=True)
    assert r.returncode == 1
    assert "relay_proxy.password_file" in r.stderr and "0644" in r.stderr
    assert "s3cret-relay-pass" not in r.stdout + r.stderr
    os.chmod(pw, 0o600)
    r = subprocess.run([BIN, "check-config", "--config", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
