"""The configuration file itself (SPEC.md "Configuration"): a path that is not a
readable file, files with no mapping, symlinked files (an operator's link and the
Kubernetes ConfigMap layout), read-only files. Every entry point -- run, reload,
check-config, the CLI -- treats them alike (issue 15, defects 1, 3 and 10a)."""
import os
import subprocess

from gwtest import BIN, Gateway, base_config, free_port


def omsgw(*args):
    return subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)


def test_a_directory_as_config_is_an_error_for_run_and_check_config(tmp_path):
    d = tmp_path / "conf.d"
    d.mkdir()
    r = omsgw("check-config", "--config", str(d))
    assert r.returncode == 1 and "Is a directory" in r.stderr, r.stderr
    r = subprocess.run([BIN, "run", "--config", str(d)], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 1, r.stderr
    assert "event_id=401" in r.stderr and f"{d}: cannot read: Is a directory" in r.stderr


def test_cli_edits_through_a_symlink_replace_the_target_and_keep_the_link(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    target = data / "omsgw.yaml"
    target.write_text("# operator's note\nallowed_hosts: [a.example.com]\n")
    os.chmod(target, 0o640)
    link = tmp_path / "omsgw.yaml"
    os.symlink("data/omsgw.yaml", link)
    r = omsgw("allowed-host", "add", "b.example.com", "--config", str(link))
    assert r.returncode == 0, r.stderr
    assert os.path.islink(link) and os.readlink(link) == "data/omsgw.yaml"
    text = target.read_text()
    assert text.startswith("# operator's note\n") and "b.example.com" in text
    assert os.stat(target).st_mode & 0o7777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["data", "omsgw.yaml"]


def test_cli_refuses_a_read_only_file_naming_it(tmp_path):
    path = tmp_path / "omsgw.yaml"
    path.write_text("mode: enforce\n")
    os.chmod(path, 0o444)
    r = omsgw("config", "set", "mode", "report", "--config", str(path))
    assert r.returncode == 1 and r.stdout == ""
    assert str(path) in r.stderr and "read-only" in r.stderr, r.stderr
    assert path.read_text() == "mode: enforce\n"
