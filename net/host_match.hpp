#pragma once
/// \file
/// Host names and allow-list matching for net/: the grammar's parsers (one grammar for
/// configuration and data plane, see net/grammar/host.hpp) under their net/ names.

#include "net/grammar/host.hpp"

namespace omsgw::net {

using grammar::host_matches;
using grammar::is_ip_literal;
using grammar::normalize_host;
using grammar::normalize_host_pattern;

}  // namespace omsgw::net
