# Debian package: `cpack -G DEB` in the build directory (or `cpack --config
# <build>/CPackConfig.cmake -G DEB -B <out>`) writes omsgw_<version>_<arch>.deb.
# Build a Release (or RelWithDebInfo) tree for a package you ship; CPACK_STRIP_FILES
# strips the binary either way.
#
# Contents:
#   /usr/bin/omsgw                         (install(TARGETS) in cli/, prefix /usr)
#   /lib/systemd/system/omsgw.service      deploy/systemd/omsgw.service
#   /usr/share/omsgw/omsgw.yaml            deploy/omsgw.yaml, the defaults: postinst
#                                          creates /etc/omsgw/omsgw.yaml from it when absent
#                                          (the operator's file, not a dpkg conffile)
#   /usr/share/doc/omsgw/                  README.md, the HAProxy example
#   /usr/share/doc/omsgw/examples/keepalived/  the VRRP pair (deploy/keepalived/), not active
# Maintainer scripts: deploy/debian/{preinst,postinst,prerm,postrm}, debconf's config.

# Absolute destinations: they are the same on every Debian system whatever the prefix
# (Debian 12 still ships units in /lib/systemd/system).
# Everything in the package is in install COMPONENT omsgw (the binary's rule is in
# cli/CMakeLists.txt); other install rules (test tools) stay out of it.
install(FILES "${PROJECT_SOURCE_DIR}/deploy/systemd/omsgw.service"
        DESTINATION /lib/systemd/system COMPONENT omsgw)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/omsgw.yaml"
        DESTINATION share/omsgw COMPONENT omsgw)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/haproxy/omsgw.cfg"
        DESTINATION share/doc/omsgw/examples RENAME haproxy.cfg COMPONENT omsgw)
# Examples only: nothing under /etc/keepalived or omsgw.service.d is installed.
set(_omsgw_vrrp_examples share/doc/omsgw/examples/keepalived)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/keepalived/keepalived.conf"
              "${PROJECT_SOURCE_DIR}/deploy/keepalived/omsgw-vrrp.conf"
              "${PROJECT_SOURCE_DIR}/deploy/keepalived/omsgw-vrrp.default"
        DESTINATION ${_omsgw_vrrp_examples} COMPONENT omsgw)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/keepalived/haproxy-pair/keepalived.conf"
        DESTINATION ${_omsgw_vrrp_examples} RENAME keepalived-haproxy-pair.conf COMPONENT omsgw)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/keepalived/haproxy-pair/haproxy-monitor.cfg"
        DESTINATION ${_omsgw_vrrp_examples} COMPONENT omsgw)
install(PROGRAMS "${PROJECT_SOURCE_DIR}/deploy/keepalived/omsgw-vrrp"
        DESTINATION ${_omsgw_vrrp_examples} COMPONENT omsgw)
# Firewall: the ufw application profile and firewalld service (Debian/RHEL conventions)
# for operators; the helper postinst/postrm use to open and close the configured port.
install(FILES "${PROJECT_SOURCE_DIR}/deploy/firewall/ufw-omsgw"
        DESTINATION /etc/ufw/applications.d RENAME omsgw COMPONENT omsgw)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/firewall/firewalld-omsgw.xml"
        DESTINATION /usr/lib/firewalld/services RENAME omsgw.xml COMPONENT omsgw)
install(FILES "${PROJECT_SOURCE_DIR}/deploy/debian/firewall.sh"
        DESTINATION share/omsgw COMPONENT omsgw)
if(EXISTS "${PROJECT_SOURCE_DIR}/README.md")
  install(FILES "${PROJECT_SOURCE_DIR}/README.md" DESTINATION share/doc/omsgw COMPONENT omsgw)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME omsgw)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "omsgw")
set(CPACK_PACKAGE_CONTACT "omsgw maintainers <omsgw@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Linux gateway for monitoring agents (OMS / Log Analytics gateway)")
set(CPACK_PACKAGE_DESCRIPTION
    "omsgw is an HTTP CONNECT forward proxy that lets monitoring agents on machines
without Internet access reach Azure Monitor through one machine that has it. It
tunnels only CONNECT host:443 to allowed hosts, inspects the TLS handshake without
terminating it, can chain through a relay proxy, exports Prometheus and PerfMon
counters and applies configuration changes without a restart.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared-library dependencies come from dpkg-shlibdeps (package dpkg-dev); adduser is
# what postinst uses to create the service user.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, debconf (>= 0.5) | debconf-2.0")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "haproxy, keepalived, nftables, curl, prometheus")
# debconf: `config` and the templates with every language merged in by po2debconf
# (po-debconf) at build time, from deploy/debian/po (see po/CMakeLists.txt).
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/debian/conffiles"
    "${PROJECT_SOURCE_DIR}/deploy/debian/config"
    "${OMSGW_DEBCONF_TEMPLATES}"
    "${PROJECT_SOURCE_DIR}/deploy/debian/preinst"
    "${PROJECT_SOURCE_DIR}/deploy/debian/postinst"
    "${PROJECT_SOURCE_DIR}/deploy/debian/prerm"
    "${PROJECT_SOURCE_DIR}/deploy/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# One package made of the omsgw component only (build dir; project; component; subdir).
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};${PROJECT_NAME};omsgw;/")
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
