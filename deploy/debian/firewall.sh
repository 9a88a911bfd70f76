# omsgw maintainer-script helpers for the firewall (sourced by postinst and postrm;
# installed as /usr/share/omsgw/firewall.sh). What the package opened is recorded in
# /var/lib/omsgw/firewall ("BACKEND PORT") so a new port moves the rule and purge
# removes only what the package added. Variables are fw_-prefixed: sh has no locals and
# the callers keep their own (port, backend).
OMSGW_FW_STATE=/var/lib/omsgw/firewall
OMSGW_NFT=/etc/omsgw/nftables-omsgw.nft

omsgw_fw_backend() {
    if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q '^Status: active'; then
        echo ufw
    elif command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then
        echo firewalld
    else
        echo nftables
    fi
}

# Removes the rule recorded in the state file, if any.
omsgw_fw_close() {
    [ -f "$OMSGW_FW_STATE" ] || return 0
    read -r fw_backend fw_port < "$OMSGW_FW_STATE" || true
    case "$fw_backend" in
        ufw) ufw delete allow proto tcp to any port "$fw_port" >/dev/null 2>&1 || true ;;
        firewalld)
            firewall-cmd --quiet --permanent --remove-port="$fw_port/tcp" >/dev/null 2>&1 || true
            firewall-cmd --quiet --remove-port="$fw_port/tcp" >/dev/null 2>&1 || true ;;
        nftables) rm -f "$OMSGW_NFT" ;;
    esac
    rm -f "$OMSGW_FW_STATE"
}

omsgw_fw_kept() {
    echo "omsgw: $2 already allows port $1/tcp with a rule the package did not add;" \
         "it is left as it is (and kept on purge)" >&2
}

# Opens PORT with the active backend (ufw, firewalld), else writes the nftables snippet
# without loading it; a port the firewall already allows is not recorded as the
# package's. Messages go to stderr (stdout belongs to debconf).
omsgw_fw_open() {
    fw_port=$1
    fw_backend=$(omsgw_fw_backend)
    mkdir -p "$(dirname "$OMSGW_FW_STATE")"
    case "$fw_backend" in
        ufw)
            # An operator's identical rule would only get its comment rewritten to
            # "omsgw" and then be deleted on purge: leave it alone and record nothing.
            if LC_ALL=C LANGUAGE='' ufw --dry-run allow proto tcp to any port "$fw_port" 2>/dev/null |
                   grep -q '^Skipping adding existing rule'; then
                omsgw_fw_kept "$fw_port" ufw
                return 0
            fi
            ufw allow proto tcp to any port "$fw_port" comment omsgw >/dev/null ;;
        firewalld)
            if firewall-cmd --quiet --permanent --query-port="$fw_port/tcp" 2>/dev/null ||
               firewall-cmd --quiet --query-port="$fw_port/tcp" 2>/dev/null; then
                omsgw_fw_kept "$fw_port" firewalld
                return 0
            fi
            firewall-cmd --quiet --permanent --add-port="$fw_port/tcp"
            firewall-cmd --quiet --add-port="$fw_port/tcp" ;;
        nftables)
            cat > "$OMSGW_NFT" <<NFT
# Written by the omsgw package: the rule that opens the gateway's listen port. Not loaded.
# It must go into the input chain that drops: in nftables an accept in a table of its
# own does not override a drop in another table's chain. Either include this file in
# that chain of /etc/nftables.conf (then: nft -f /etc/nftables.conf), e.g.
#   table inet filter {
#     chain input {
#       type filter hook input priority filter; policy drop;
#       include "$OMSGW_NFT"
#       ...
# or insert it at once: nft insert rule inet filter input tcp dport $fw_port accept
tcp dport $fw_port accept
NFT
            echo "omsgw: neither ufw nor firewalld is active; the nftables rule for port" \
                 "$fw_port is in $OMSGW_NFT (not loaded: include it in your input chain)" >&2 ;;
    esac
    echo "$fw_backend $fw_port" > "$OMSGW_FW_STATE"
}
