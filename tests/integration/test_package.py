"""The Debian package (issue 8): `cpack -G DEB` builds it from the CMake build tree; it
is installed, started, reloaded, stopped, removed and purged in a throwaway root.

The throwaway root: systemd cannot run in this container (no systemd as PID 1) and
there is no Debian mirror for debootstrap, so the root is a copy-on-write clone of this
Debian system: overlayfs mounts with the host's /usr, /etc and /var as read-only lower
layers and a temp directory as the upper layer, in a private mount namespace
(`unshare -m`) that vanishes with each command. `dpkg --root` installs into it and runs
the maintainer scripts chrooted there (so adduser, chown and deb-systemd-helper really
run, against the clone's /etc/passwd and /etc/systemd); nothing reaches the host.
The installed /usr/bin/omsgw is then run chrooted in the clone as the `omsgw` user with
the unit's privilege limits applied by setpriv (no new privileges, empty capability
bounding set) - the host's libraries, seen through the overlay, are the clone's.
`systemd-analyze verify` checks the installed unit when systemd-analyze exists.
Needs root (mount, chroot); skipped with a message otherwise.
"""
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from gwtest import BIN, EchoServer, free_port, proxy_connect, recv_exact, wait_port

BUILD_DIR = os.environ.get("OMSGW_BUILD_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(BIN)))
LAYERS = ("usr", "etc", "var")
UNIT = "/lib/systemd/system/omsgw.service"
CONFIG = "/etc/omsgw/omsgw.yaml"
SHIPPED_CONFIG = "/usr/share/omsgw/omsgw.yaml"  # the defaults postinst copies to CONFIG
WANTS = "/etc/systemd/system/multi-user.target.wants/omsgw.service"


def run(cmd, check=True, timeout=120, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


class Clone:
    """A copy-on-write clone of the host's root filesystem under `self.root`."""

    def __init__(self, directory):
        self.dir = directory
        self.root = os.path.join(directory, "root")
        for d in LAYERS:
            os.makedirs(os.path.join(directory, "upper", d))
            os.makedirs(os.path.join(directory, "work", d))
            os.makedirs(os.path.join(self.root, d))
        for d in ("dev", "proc", "run", "tmp"):
            os.makedirs(os.path.join(self.root, d))
        os.chmod(os.path.join(self.root, "tmp"), 0o1777)
        for link in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            target = os.readlink("/" + link) if os.path.islink("/" + link) else None
            if target:  # merged /usr, like the host
                os.symlink(target, os.path.join(self.root, link))

    def mounts(self):
        lines = ["set -e"]
        for d in LAYERS:
            lines.append(f"mount -t overlay overlay -o lowerdir=/{d},upperdir={self.dir}/upper/{d},"
                         f"workdir={self.dir}/work/{d} {self.root}/{d}")
        lines.append(f"mount --rbind /dev {self.root}/dev")
        lines.append(f"mount -t proc proc {self.root}/proc")
        return "\n".join(lines)

    def argv(self, script):
        """argv running `script` (sh) with the clone mounted, in a new mount namespace."""
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                self.mounts() + "\n" + script]

    def sh(self, script, check=True, **kw):
        return run(self.argv(script), check=check, **kw)

    def chroot(self, *cmd, check=True):
        return self.sh("exec chroot " + self.root + " " + " ".join(cmd), check=check)

    def exists(self, path):
        return self.sh(f"test -e {self.root}{path} || test -L {self.root}{path}", check=False).returncode == 0

    def stat(self, path):
        """(mode, uid, gid) as the clone sees it."""
        out = self.sh(f"stat -c '%a %u %g' {self.root}{path}").stdout.split()
        return int(out[0], 8), int(out[1]), int(out[2])

    def ids(self, name):
        """(uid, gid) of a user of the clone's /etc/passwd, or None."""
        r = self.chroot("getent", "passwd", name, check=False)
        if r.returncode != 0:
            return None
        f = r.stdout.strip().split(":")
        return int(f[2]), int(f[3])

    def dpkg(self, *args, frontend="noninteractive"):
        """dpkg on the clone; debconf questions get their defaults (or the preseeded
        answers) unless another frontend is asked for."""
        return self.sh(f"DEBIAN_FRONTEND={frontend} exec dpkg --root={self.root} " + " ".join(args))


def can_clone(tmp_path):
    if os.geteuid() != 0:
        return "needs root (mount namespaces, overlayfs, chroot)"
    for tool in ("unshare", "chroot", "setpriv", "dpkg", "cpack"):
        if not shutil.which(tool):
            return f"{tool} not found"
    probe = Clone(str(tmp_path / "probe"))
    r = probe.sh("true", check=False)
    if r.returncode != 0:
        return f"cannot mount an overlay clone of / here: {r.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    cfg = os.path.join(BUILD_DIR, "CPackConfig.cmake")
    if not os.path.exists(cfg):
        pytest.fail(f"{cfg} missing: configure the build with CMakeLists.txt including "
                    "cmake/packaging.cmake")
    out = tmp_path_factory.mktemp("cpack")
    run(["cpack", "--config", cfg, "-G", "DEB", "-B", str(out)], cwd=BUILD_DIR, timeout=300)
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    assert len(debs) == 1, debs
    return os.path.join(out, debs[0])


def test_deb_has_the_service_files_default_config_scripts_and_dependencies(deb):
    info = run(["dpkg-deb", "-f", deb]).stdout
    assert "Package: omsgw" in info
    depends = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
    for dep in ("adduser", "libc6", "libssl3", "libyaml-cpp", "libcaf-core"):
        assert dep in depends, depends  # from dpkg-shlibdeps, plus adduser
    # The allocator (README "Design: the allocator"): linked unless a sanitizer build
    # brings its own, and then the package must depend on it.
    links_jemalloc = "libjemalloc" in run(["ldd", BIN]).stdout
    assert ("libjemalloc2" in depends) == links_jemalloc, depends
    files = run(["dpkg-deb", "-c", deb]).stdout
    for path in ("./usr/bin/omsgw", "." + UNIT, "." + SHIPPED_CONFIG):
        assert path in files, files
    # The YAML is the operator's file, created by postinst: not shipped in /etc, not a
    # dpkg conffile (postinst edits it, which a conffile must never be).
    assert "." + CONFIG not in files
    assert "omsgw-loadgen" not in files  # only the omsgw install component is packaged
    control = run(["dpkg-deb", "-I", deb]).stdout
    for member in ("preinst", "postinst", "prerm", "postrm"):
        assert member in control, control
    conffiles = run(["dpkg-deb", "--info", deb, "conffiles"], check=False).stdout.split()
    assert CONFIG not in conffiles


def test_deb_ships_the_keepalived_examples_inactive(deb):
    """deploy/keepalived/ is in the package as examples (the script executable), and
    nothing of it is active: no keepalived configuration, no omsgw unit drop-in."""
    listing = run(["dpkg-deb", "-c", deb]).stdout.splitlines()
    entries = {line.split()[-1]: line.split()[0] for line in listing}
    base = "./usr/share/doc/omsgw/examples/keepalived/"
    for name in ("keepalived.conf", "keepalived-haproxy-pair.conf", "haproxy-monitor.cfg",
                 "omsgw-vrrp.conf", "omsgw-vrrp.default"):
        assert entries.get(base + name, "").startswith("-rw-r--r--"), (name, entries.get(base + name))
    assert entries.get(base + "omsgw-vrrp") == "-rwxr-xr-x", entries.get(base + "omsgw-vrrp")
    active = [p for p in entries if p.startswith(("./etc/keepalived", "./etc/default/",
                                                  "./usr/local/", "./etc/systemd/"))
              or "omsgw.service.d" in p]
    assert not active, active
    assert "keepalived" in run(["dpkg-deb", "-f", deb, "Suggests"]).stdout


def test_deb_installs_runs_reloads_and_purges_in_a_throwaway_root(deb, tmp_path):
    why = can_clone(tmp_path)
    if why:
        pytest.skip(f"throwaway root unavailable: {why}")
    os.chmod(tmp_path, 0o755)
    clone = Clone(str(tmp_path / "clone"))
    host_had_user = subprocess.run(["getent", "passwd", "omsgw"], capture_output=True).returncode == 0
    host_had_binary = os.path.exists("/usr/bin/omsgw")

    # --- install: files, the service user, permissions, enablement
    clone.dpkg("-i", deb)
    assert "install ok installed" in clone.dpkg("-s", "omsgw").stdout
    ids = clone.ids("omsgw")
    assert ids, "postinst did not create the omsgw user"
    uid, gid = ids
    assert uid != 0 and gid != 0
    assert clone.chroot("getent", "passwd", "omsgw").stdout.strip().endswith(":/usr/sbin/nologin")
    assert clone.stat("/etc/omsgw") == (0o750, 0, gid)
    assert clone.stat(CONFIG) == (0o640, 0, gid)
    assert clone.exists(WANTS), "postinst did not enable the unit"
    assert clone.exists("/usr/bin/omsgw")
    assert "valid" in clone.chroot("/usr/bin/omsgw", "check-config", "--config", CONFIG).stdout
    if host_had_user is False:
        assert subprocess.run(["getent", "passwd", "omsgw"], capture_output=True).returncode != 0
    assert os.path.exists("/usr/bin/omsgw") == host_had_binary  # the host is untouched

    # --- the installed unit passes systemd's own checks
    if shutil.which("systemd-analyze"):
        v = clone.chroot("systemd-analyze", "verify", UNIT, check=False)
        assert v.returncode == 0 and not v.stderr.strip(), v.stderr + v.stdout
        sec = clone.chroot("systemd-analyze", "security", "--offline=true", UNIT, check=False)
        overall = [l for l in sec.stdout.splitlines() if "Overall exposure" in l]
        print("systemd-analyze security:", overall[0] if overall else sec.stdout[-300:])
    else:
        print("systemd-analyze not found (Debian package systemd): unit not verified")

    # --- the admin points it at loopback test ports (the shipped file is the defaults)
    port, admin = free_port(), free_port()
    default = clone.chroot("cat", CONFIG).stdout
    edited = (default.replace("  address: 0.0.0.0", "  address: 127.0.0.1", 1)
              .replace("  port: 8080", f"  port: {port}", 1)
              .replace("  port: 8081", f"  port: {admin}", 1))
    assert edited != default
    write_config(clone, edited)

    # --- start it as the service would: user omsgw, no new privileges, no capabilities
    log_path = tmp_path / "omsgw.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        clone.argv(f"exec chroot {clone.root} setpriv --reuid=omsgw --regid=omsgw --clear-groups "
                   "--no-new-privs --bounding-set=-all --inh-caps=-all "
                   f"/usr/bin/omsgw run --config {CONFIG}"),
        stdout=log, stderr=subprocess.STDOUT)
    echo = EchoServer(None, mode="halfclose")
    try:
        wait_for(lambda: "event_id=101" in log_path.read_text() or proc.poll() is not None)
        assert proc.poll() is None, log_path.read_text()
        wait_port("127.0.0.1", port)
        status = open(f"/proc/{proc.pid}/status").read()
        assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status, status
        assert "NoNewPrivs:\t1" in status and "CapBnd:\t0000000000000000" in status, status
        assert http_status(f"http://127.0.0.1:{admin}/readyz") == 200

        # the shipped policy: only Azure Monitor hosts
        s, code, _ = proxy_connect("127.0.0.1", port, f"allowed.test:{echo.port}")
        s.close()
        assert code == 403

        # --- reload (as `systemctl reload omsgw` does: ExecReload=kill -HUP $MAINPID)
        write_config(clone, edited.replace(
            "allowed_hosts:", "allowed_hosts:\n  - allowed.test\n", 1).replace(
            "allowed_ports: [443]", f"allowed_ports: [443, {echo.port}]", 1).replace(
            "  resolve: {}", "  resolve: { allowed.test: 127.0.0.1 }", 1).replace(
            "  inspect: true", "  inspect: false", 1), pid=proc.pid)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in log_path.read_text())
        s, code, head = proxy_connect("127.0.0.1", port, f"allowed.test:{echo.port}")
        assert code == 200, head
        s.sendall(b"through the packaged gateway")
        assert recv_exact(s, 28) == b"through the packaged gateway"
        s.close()

        # --- stop (systemctl stop: KillSignal=SIGTERM, drain, exit 0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "event_id=102" in log_path.read_text()
    finally:
        echo.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    # --- remove keeps the configuration; purge deletes it and the enablement
    clone.dpkg("-r", "omsgw")
    assert not clone.exists("/usr/bin/omsgw") and not clone.exists(UNIT)
    assert clone.exists(CONFIG), "remove must keep the configuration"
    clone.dpkg("--purge", "omsgw")
    for path in ("/etc/omsgw", WANTS, "/etc/systemd/system/omsgw.service", "/var/log/omsgw"):
        assert not clone.exists(path), f"{path} left after purge"
    q = clone.sh(f"dpkg-query --admindir={clone.root}/var/lib/dpkg -W "
                 "-f='${db:Status-Status}' omsgw", check=False)
    assert q.returncode != 0 or q.stdout.strip() == "not-installed", q.stdout
    # Documented in postrm: the system user stays after purge.
    assert clone.ids("omsgw") == ids


def write_config(clone, text, pid=None):
    """Rewrites the installed configuration in place (owner and mode kept), in the
    running gateway's mount namespace when there is one."""
    script = f"cat > {clone.root}{CONFIG}"
    argv = (["nsenter", "-t", str(pid), "-m", "sh", "-c", script] if pid
            else clone.argv(script))
    r = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def wait_for(cond, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
