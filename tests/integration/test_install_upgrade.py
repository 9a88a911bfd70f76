"""Installer audit (findings 1-6, 8-11): upgrades that never
stop at a conffile prompt, the YAML as the truth for values set with the CLI, debconf
authoritative for exactly the keys it asks about, answers validated like the CLI does,
the relay password never left in debconf's database, no endless loop when a bad answer
cannot be asked, an operator's firewall rule not taken over (and deleted on purge), an
nftables snippet that opens the port under a default-drop ruleset, the ufw profile a
conffile.

Same throwaway root as test_package/test_install (an overlay clone of / in a private
mount namespace, `dpkg --root`, maintainer scripts chrooted there). A "later release"
is the package under test repacked (dpkg-deb -R / -b) with a higher version and a
changed default YAML; an "old release" additionally lists /etc/omsgw/omsgw.yaml as a
conffile, as 0.1.0 did.
"""
import hashlib
import os
import shutil
import subprocess
import textwrap

import pytest

from test_install import (PASSWORD_FILE, STATE, clone, config_get, debconf_db_text,  # noqa: F401
                          preseed, read, ufw_clone_reason, ufw_in_netns)
from test_package import CONFIG, deb, run  # noqa: F401 (deb is a fixture)

SHIPPED = "/usr/share/omsgw/omsgw.yaml"
PROFILE = "/etc/ufw/applications.d/omsgw"
SECRET = "Zq7-SECRET-pw"


def repack(deb, tmp_path, version, conffile=False, note="# a later release changed this\n",
           profile_conffile=True):
    """The package as a release VERSION whose default YAML starts with NOTE."""
    tree = tmp_path / f"tree-{version}"
    run(["dpkg-deb", "-R", deb, str(tree)])
    listed = tree / "DEBIAN" / "conffiles"
    if not profile_conffile and listed.exists():  # as up to 0.1.0
        listed.write_text("".join(l + "\n" for l in listed.read_text().split() if l != PROFILE))
        if not listed.read_text():
            listed.unlink()
    control = (tree / "DEBIAN" / "control").read_text().splitlines()
    control = [f"Version: {version}" if l.startswith("Version:") else l for l in control]
    (tree / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    shipped = tree / SHIPPED.lstrip("/")
    etc = tree / CONFIG.lstrip("/")
    if conffile and not etc.exists():
        etc.parent.mkdir(parents=True, exist_ok=True)
        etc.write_text(shipped.read_text())
        with open(listed, "a") as f:
            f.write(CONFIG + "\n")
    for f in (shipped, etc):
        if f.exists():
            f.write_text(note + f.read_text())
    sums = []
    for dirpath, _, files in os.walk(tree):
        if "DEBIAN" in os.path.relpath(dirpath, tree).split(os.sep):
            continue
        for name in files:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                sums.append(f"{hashlib.md5(open(p, 'rb').read()).hexdigest()}  "
                            f"{os.path.relpath(p, tree)}")
    (tree / "DEBIAN" / "md5sums").write_text("\n".join(sorted(sums)) + "\n")
    out = tmp_path / f"omsgw_{version}_amd64.deb"
    run(["dpkg-deb", "-b", str(tree), str(out)])
    return str(out)


def dpkg_quiet(clone, *args, env="DEBIAN_FRONTEND=noninteractive", timeout=180):
    """dpkg on the clone with stdin closed, as apt-get -y or a CI job runs it."""
    return clone.sh(f"{env} exec dpkg --root={clone.root} " + " ".join(args), check=False,
                    stdin=subprocess.DEVNULL, timeout=timeout)


def status(clone):
    return clone.sh(f"dpkg-query --admindir={clone.root}/var/lib/dpkg -W "
                    "-f='${db:Status-Abbrev}' omsgw", check=False).stdout.strip()


def conffiles(clone):
    return clone.sh(f"dpkg-query --admindir={clone.root}/var/lib/dpkg -W "
                    "-f='${Conffiles}' omsgw", check=False).stdout


def reconfigure(clone, env="DEBIAN_FRONTEND=noninteractive", args=""):
    return clone.sh(f"{env} exec chroot {clone.root} dpkg-reconfigure {args} omsgw",
                    check=False, stdin=subprocess.DEVNULL, timeout=180)


def test_upgrade_with_a_changed_default_yaml_never_prompts(deb, clone, tmp_path):
    # Finding 1: a default install used to edit the conffile (`fallback: []`), and the
    # next release with a changed default stopped at dpkg's conffile prompt.
    r = dpkg_quiet(clone, "-i", deb)
    assert r.returncode == 0, r.stdout + r.stderr
    default_install = read(clone, CONFIG)
    clone.sh(f"printf '# operator note: keep me\\n' >> {clone.root}{CONFIG}")
    clone.chroot("/usr/bin/omsgw", "allowed-host", "add", "extra.example.com", "--config", CONFIG)
    before = read(clone, CONFIG)

    later = repack(deb, tmp_path, "99.0.0")
    r = dpkg_quiet(clone, "-i", later)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "conffile prompt" not in r.stderr
    assert status(clone) == "ii", status(clone)
    assert read(clone, CONFIG) == before
    assert read(clone, SHIPPED).startswith("# a later release changed this")
    # The default install had written nothing into the file, which is no conffile.
    assert "fallback" not in default_install
    assert default_install == read(clone, SHIPPED).split("\n", 1)[1]
    assert CONFIG not in conffiles(clone)


def test_upgrade_from_a_release_with_the_yaml_as_conffile_keeps_the_file(deb, clone, tmp_path):
    # Migration: up to 0.1.0 the YAML was a conffile, and postinst had modified it.
    old = repack(deb, tmp_path, "0.0.9", conffile=True, note="", profile_conffile=False)
    assert dpkg_quiet(clone, "-i", old).returncode == 0
    assert CONFIG in conffiles(clone)
    clone.sh(f"printf '# operator note: keep me\\n' >> {clone.root}{CONFIG}")
    before = read(clone, CONFIG)
    mode_owner = clone.stat(CONFIG)

    r = dpkg_quiet(clone, "-i", deb)
    assert r.returncode == 0, r.stdout + r.stderr
    assert status(clone) == "ii"
    assert read(clone, CONFIG) == before
    assert clone.stat(CONFIG) == mode_owner
    assert CONFIG not in conffiles(clone), "dpkg still tracks the YAML as a conffile"
    assert not clone.exists(CONFIG + ".dpkg-omsgw-migrate")

    r = dpkg_quiet(clone, "-i", repack(deb, tmp_path, "99.0.0"))
    assert r.returncode == 0 and status(clone) == "ii", r.stdout + r.stderr
    assert read(clone, CONFIG) == before
    # remove keeps the operator's file; purge deletes it.
    assert dpkg_quiet(clone, "-r", "omsgw").returncode == 0
    assert read(clone, CONFIG) == before
    assert dpkg_quiet(clone, "--purge", "omsgw").returncode == 0
    assert not clone.exists("/etc/omsgw")


def test_an_https_relay_set_with_the_cli_survives_upgrade_and_reconfigure(deb, clone):
    # Finding 2: only http:// was read back, so an upgrade wrote the stale answer back.
    preseed(clone, relay_address="http://proxy.corp.example:3128")
    assert dpkg_quiet(clone, "-i", deb).returncode == 0
    clone.chroot("/usr/bin/omsgw", "relay-proxy", "set", "--address",
                 "https://newproxy.corp.example:3129", "--config", CONFIG)
    r = dpkg_quiet(clone, "-i", deb)
    assert r.returncode == 0, r.stderr
    assert config_get(clone, "relay_proxy.address") == "https://newproxy.corp.example:3129"
    assert reconfigure(clone).returncode == 0
    assert config_get(clone, "relay_proxy.address") == "https://newproxy.corp.example:3129"
    shown = clone.chroot("debconf-show", "omsgw").stdout
    assert "https://newproxy.corp.example:3129" in shown, shown
    # ... and an https answer is accepted as such.
    preseed(clone, relay_address="https://other.corp.example:443")
    assert reconfigure(clone).returncode == 0
    assert config_get(clone, "relay_proxy.address") == "https://other.corp.example:443"


def test_debconf_removes_or_replaces_relay_credentials(deb, clone):
    # Finding 3: a new relay without username kept the old username and secret file.
    preseed(clone, relay_address="http://proxy.corp.example:3128", relay_username="svc-omsgw",
            relay_password=SECRET)
    assert dpkg_quiet(clone, "-i", deb).returncode == 0
    assert config_get(clone, "relay_proxy.username") == "svc-omsgw"
    assert config_get(clone, "relay_proxy.password_file") == PASSWORD_FILE
    assert read(clone, PASSWORD_FILE) == SECRET

    preseed(clone, relay_address="http://other-proxy.corp.example:8080", relay_username="")
    assert reconfigure(clone).returncode == 0
    assert config_get(clone, "relay_proxy.address") == "http://other-proxy.corp.example:8080"
    assert config_get(clone, "relay_proxy.username") in ("", '""')
    assert config_get(clone, "relay_proxy.password_file") in ("", '""')
    assert not clone.exists(PASSWORD_FILE), "the old relay's secret is still on disk"

    # Credentials again, then "no relay": neither credentials nor the secret stay.
    preseed(clone, relay_address="http://proxy.corp.example:3128", relay_username="svc2",
            relay_password=SECRET)
    assert reconfigure(clone).returncode == 0
    assert config_get(clone, "relay_proxy.username") == "svc2"
    assert read(clone, PASSWORD_FILE) == SECRET
    preseed(clone, relay_address="")
    assert reconfigure(clone).returncode == 0
    for key in ("relay_proxy.address", "relay_proxy.username", "relay_proxy.password_file"):
        assert config_get(clone, key) in ("", '""'), key
    assert not clone.exists(PASSWORD_FILE)
    assert "valid" in clone.chroot("/usr/bin/omsgw", "check-config", "--config", CONFIG).stdout

    # A preseeded password with no relay is not written anywhere.
    preseed(clone, relay_address="", relay_username="u1", relay_password=SECRET)
    assert reconfigure(clone).returncode == 0
    assert not clone.exists(PASSWORD_FILE)
    assert SECRET not in debconf_db_text(clone)


@pytest.mark.parametrize("question,value,key,fallback", [
    ("listen_port", "08080", "listen.port", "8080"),
    ("relay_address", "http://proxy.corp.example:99999", "relay_proxy.address", ""),
    ("relay_address", "http://-:80", "relay_proxy.address", ""),
])
def test_an_answer_the_cli_refuses_never_breaks_the_package(deb, clone, question, value, key,
                                                            fallback):
    # Finding 4: the questions accepted values `omsgw config set` then refused: iF.
    preseed(clone, **{question: value})
    r = dpkg_quiet(clone, "-i", deb)
    assert r.returncode == 0, r.stdout + r.stderr
    assert status(clone) == "ii"
    assert config_get(clone, key) in (fallback, '""' if fallback == "" else fallback)
    assert reconfigure(clone).returncode == 0


def test_the_relay_password_never_stays_in_debconf(deb, clone):
    # Finding 5: a postinst failing before the password was cleared left it in
    # passwords.dat, even after dpkg -r.
    preseed(clone, listen_port="08080", relay_address="http://proxy.corp.example:3128",
            relay_username="svc", relay_password="Left-Behind-S3cret")
    dpkg_quiet(clone, "-i", deb)
    dpkg_quiet(clone, "-r", "omsgw")
    assert "Left-Behind-S3cret" not in debconf_db_text(clone)

    # A postinst that does fail (here: the secret cannot be written) clears it too.
    clone.sh(f"mkdir -p {clone.root}/etc/omsgw/relay-password.new/x")
    preseed(clone, listen_port="8080", relay_address="http://proxy.corp.example:3128",
            relay_username="svc", relay_password="Left-Behind-S3cret")
    r = dpkg_quiet(clone, "-i", deb)
    assert r.returncode != 0 and status(clone) != "ii", "the forced failure did not happen"
    assert "Left-Behind-S3cret" not in debconf_db_text(clone)
    dpkg_quiet(clone, "-r", "omsgw")
    assert "Left-Behind-S3cret" not in debconf_db_text(clone)


@pytest.mark.parametrize("how", ["frontend-in-debconf-db", "priority-critical"])
def test_a_bad_answer_that_cannot_be_asked_does_not_loop(deb, clone, how):
    # Finding 6: the loop only ended for DEBIAN_FRONTEND=noninteractive exactly.
    if how == "frontend-in-debconf-db":
        clone.sh(f"echo 'debconf debconf/frontend select Noninteractive' | "
                 f"chroot {clone.root} debconf-set-selections")
        env = "unset DEBIAN_FRONTEND;"
    else:
        env = "DEBIAN_FRONTEND=teletype DEBIAN_PRIORITY=critical"
    preseed(clone, listen_port="80800", relay_address="proxy.corp.example:3128")
    r = clone.sh(f"{env} exec timeout 90 dpkg --root={clone.root} -i {deb}", check=False,
                 stdin=subprocess.DEVNULL, timeout=180)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stderr.count("not valid") <= 4, r.stderr[-2000:]
    assert config_get(clone, "listen.port") == "8080"
    assert config_get(clone, "relay_proxy.address") in ("", '""')


def test_noninteractive_reconfigure_by_option_applies_preseeded_answers(deb, clone):
    # Finding 8: `dpkg-reconfigure -f noninteractive` does not export DEBIAN_FRONTEND;
    # the preseeded port was replaced by the file's.
    assert dpkg_quiet(clone, "-i", deb).returncode == 0
    preseed(clone, listen_port="9191")
    r = reconfigure(clone, env="unset DEBIAN_FRONTEND;", args="-f noninteractive")
    assert r.returncode == 0, r.stderr
    assert config_get(clone, "listen.port") == "9191"
    # A value changed with the CLI since is not reverted by the next reconfigure.
    clone.chroot("/usr/bin/omsgw", "config", "set", "listen.port", "9292", "--config", CONFIG)
    assert reconfigure(clone, env="unset DEBIAN_FRONTEND;", args="-f noninteractive").returncode == 0
    assert config_get(clone, "listen.port") == "9292"


def test_an_operators_ufw_rule_for_the_port_is_not_taken_over(deb, clone):
    # Finding 9: `ufw allow ... comment omsgw` on an existing rule only rewrote its
    # comment; the package then recorded the rule as its own and purge deleted it.
    why = ufw_clone_reason(clone)
    if why:
        pytest.skip(why)

    def in_netns(script):
        return ufw_in_netns(clone, script)

    in_netns(f"chroot {clone.root} ufw allow 8080/tcp >/dev/null; "
             f"chroot {clone.root} ufw allow 22/tcp >/dev/null")
    preseed(clone, listen_port="8080", open_firewall="true")
    r = in_netns(f"DEBIAN_FRONTEND=noninteractive dpkg --root={clone.root} -i {deb}")
    rules = in_netns(f"chroot {clone.root} ufw show added").stdout
    assert "ufw allow 8080/tcp" in rules and "omsgw" not in rules, rules
    assert not clone.exists(STATE)
    assert "already allows port 8080/tcp" in r.stderr, r.stderr
    in_netns(f"DEBIAN_FRONTEND=noninteractive dpkg --root={clone.root} --purge omsgw")
    rules = in_netns(f"chroot {clone.root} ufw show added").stdout
    assert "ufw allow 8080/tcp" in rules and "ufw allow 22/tcp" in rules, rules


def test_the_nftables_snippet_opens_the_port_under_a_default_drop_ruleset(deb, clone, tmp_path):
    # Finding 10: the snippet was a table of its own, whose accept cannot override the
    # drop of the host's input chain. Loaded as documented, it must open the port.
    if not shutil.which("nft"):
        pytest.skip("nft is not installed (Debian package nftables)")
    preseed(clone, listen_port="9090", open_firewall="true")
    assert dpkg_quiet(clone, "-i", deb).returncode == 0
    snippet = f"{clone.root}/etc/omsgw/nftables-omsgw.nft"
    ruleset = tmp_path / "nftables.conf"
    ruleset.write_text(textwrap.dedent(f"""\
        table inet filter {{
          chain input {{
            type filter hook input priority filter; policy drop;
            ct state established,related accept
            include "{snippet}"
          }}
        }}
        """))
    probe = textwrap.dedent("""\
        import socket
        listener = socket.socket(); listener.bind(("127.0.0.1", PORT)); listener.listen()
        c = socket.socket(); c.settimeout(3)
        try:
            c.connect(("127.0.0.1", PORT)); print("open")
        except OSError as e:
            print("closed", e)
        """)
    script = tmp_path / "probe.py"
    script.write_text(probe.replace("PORT", "9090"))
    closed = tmp_path / "closed.py"
    closed.write_text(probe.replace("PORT", "9191"))
    r = clone.sh(f"unshare --net sh -c 'ip link set lo up && nft -f {ruleset} && "
                 f"python3 {script} && python3 {closed}'", check=False, timeout=60)
    if "Operation not permitted" in r.stderr and "nft" in r.stderr:
        pytest.skip(f"nftables unavailable in a network namespace here: {r.stderr}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split("\n")[0] == "open", r.stdout
    assert r.stdout.split("\n")[1].startswith("closed"), r.stdout  # the drop policy holds


def test_the_ufw_profile_is_a_conffile_and_an_edit_survives(deb, clone, tmp_path):
    # Finding 11: /etc/ufw/applications.d/omsgw was not a conffile: edits were lost.
    old = repack(deb, tmp_path, "0.0.9", note="", profile_conffile=False)
    assert dpkg_quiet(clone, "-i", old).returncode == 0
    clone.sh(f"sed -i 's#^ports=.*#ports=3128/tcp|8080/tcp#' {clone.root}{PROFILE}")
    edited = read(clone, PROFILE)
    r = dpkg_quiet(clone, "-i", deb)  # becoming a conffile: no prompt, the edit kept aside
    assert r.returncode == 0 and status(clone) == "ii", r.stdout + r.stderr
    assert PROFILE in conffiles(clone)
    assert read(clone, PROFILE + ".dpkg-old") == edited
    assert "ports=8080/tcp" in read(clone, PROFILE)
    assert "kept as /etc/ufw/applications.d/omsgw.dpkg-old" in r.stderr, r.stderr
    # From now on an edit survives upgrades.
    clone.sh(f"sed -i 's#^ports=.*#ports=3128/tcp|8080/tcp#' {clone.root}{PROFILE}")
    r = dpkg_quiet(clone, "-i", repack(deb, tmp_path, "99.0.0"))
    assert r.returncode == 0 and status(clone) == "ii", r.stdout + r.stderr
    assert read(clone, PROFILE) == edited
