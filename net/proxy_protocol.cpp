#include "net/proxy_protocol.hpp"

#include <algorithm>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <boost/system/error_code.hpp>
#include <string_view>
#include <vector>

namespace omsgw::net {

namespace {

namespace ip = boost::asio::ip;

/// Spec 2.1: a v1 header starts with "PROXY" and exactly one space.
constexpr std::string_view v1_magic = "PROXY ";

/// Spec 2.2: the 12-byte v2 signature. It contains a NUL, hence the explicit size.
constexpr std::string_view v2_signature("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);
constexpr std::size_t v2_fixed_size = 16;  ///< signature, ver/cmd, fam/proto, length
constexpr std::uint8_t v2_version = 0x2;
constexpr std::uint8_t v2_cmd_local = 0x0;
constexpr std::uint8_t v2_cmd_proxy = 0x1;
constexpr std::uint8_t v2_tcp_over_ipv4 = 0x11;
constexpr std::uint8_t v2_tcp_over_ipv6 = 0x21;
constexpr std::size_t v2_ipv4_block = 2 * 4 + 2 * 2;   ///< spec 2.2: 12 bytes
constexpr std::size_t v2_ipv6_block = 2 * 16 + 2 * 2;  ///< spec 2.2: 36 bytes
constexpr std::size_t v2_tlv_header = 3;               ///< type, length_hi, length_lo

bool is_digit(std::uint8_t ch) { return ch >= '0' && ch <= '9'; }

bool is_hex(std::uint8_t ch) {
  return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

bool starts(std::string_view text, std::string_view prefix_of) {
  return prefix_of.substr(0, text.size()) == text;
}

std::string hex_byte(std::uint8_t b) {
  static constexpr char digits[] = "0123456789abcdef";
  return std::string("0x") + digits[b >> 4] + digits[b & 0xf];
}

/// Peer bytes quoted in a detail, which ends up in log lines: printable ASCII as is,
/// anything else as \xHH.
std::string printable(std::string_view bytes) {
  std::string out;
  for (char ch : bytes) {
    const auto b = static_cast<std::uint8_t>(ch);
    if (b >= 0x20 && b < 0x7f && b != '\\' && b != '"') {
      out.push_back(ch);
    } else {
      out += "\\x" + hex_byte(b).substr(2);
    }
  }
  return out;
}

/// Spec 2.1: exactly 4 decimal numbers in 0..255 separated by single dots, no heading
/// zeros ("to avoid any possible confusion with octal numbers").
std::optional<ip::address_v4> parse_ipv4(std::string_view text) {
  ip::address_v4::bytes_type bytes{};
  std::size_t part = 0;
  std::size_t start = 0;
  while (true) {
    const auto dot = text.find('.', start);
    const auto num = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (part == bytes.size() || num.empty() || num.size() > 3) return std::nullopt;
    if (num.size() > 1 && num.front() == '0') return std::nullopt;
    unsigned value = 0;
    for (char ch : num) {
      if (!is_digit(static_cast<std::uint8_t>(ch))) return std::nullopt;
      value = value * 10 + static_cast<unsigned>(ch - '0');
    }
    if (value > 255) return std::nullopt;
    bytes[part++] = static_cast<unsigned char>(value);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (part != bytes.size()) return std::nullopt;
  return ip::address_v4(bytes);
}

/// Spec 2.1: hex groups with at most one "::"; read by inet_pton, which also takes the
/// dotted-quad tail HAProxy's own inet_ntop writes for IPv4-mapped addresses. The
/// caller has already limited the characters to hex digits, ':' and '.', so no zone id.
std::optional<ip::address_v6> parse_ipv6(std::string_view text) {
  boost::system::error_code ec;
  const auto addr = ip::make_address_v6(std::string(text).c_str(), ec);
  if (ec) return std::nullopt;
  return addr;
}

/// Spec 2.1: a decimal integer in 0..65535, no heading zeros (and so no sign).
std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  std::uint32_t value = 0;
  for (char ch : text) {
    if (!is_digit(static_cast<std::uint8_t>(ch))) return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(ch - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::uint16_t read_be16(const std::string& bytes, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(bytes[at]) << 8) |
                                    static_cast<std::uint8_t>(bytes[at + 1]));
}

/// Why a v2 PROXY command's family/transport byte is refused.
std::string describe_family(std::uint8_t fam) {
  const unsigned family = fam >> 4;
  const unsigned transport = fam & 0xf;
  std::string what;
  if (family == 0) {
    what = "UNSPEC family";
  } else if (family == 3) {
    what = "UNIX family";
  } else if (family > 3) {
    what = "unknown family";
  } else if (transport == 2) {
    what = "UDP";
  } else {
    what = transport == 0 ? "UNSPEC transport" : "unknown transport";
  }
  return what + " (" + hex_byte(fam) + "), only TCP over IPv4/IPv6 is accepted";
}

}  // namespace

proxy_header_reader::proxy_header_reader(std::size_t header_limit)
    : limit_(std::min(header_limit, proxy_v2_max_header)) {}

const proxy_outcome& proxy_header_reader::feed(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || outcome_.status == proxy_status::invalid) return outcome_;
  if (outcome_.status == proxy_status::ok) {
    leftover_.append(reinterpret_cast<const char*>(data), size);  // after the header
    return outcome_;
  }
  const auto taken = take(data, size);
  if (outcome_.status == proxy_status::ok) {
    leftover_.assign(reinterpret_cast<const char*>(data) + taken, size - taken);
  }
  return outcome_;
}

std::size_t proxy_header_reader::take(const std::uint8_t* data, std::size_t size) {
  std::size_t i = 0;
  while (i < size && outcome_.status == proxy_status::need_more) {
    if (outcome_.version == 2 && header_.size() >= v2_fixed_size) {
      // Address block and TLVs: the length is known and within the limit, so take
      // them in bulk, never past the end of the header.
      const auto n = std::min(v2_total_ - header_.size(), size - i);
      header_.append(reinterpret_cast<const char*>(data) + i, n);
      i += n;
      if (header_.size() == v2_total_) finish_v2();
      continue;
    }
    const std::uint8_t byte = data[i++];
    if (outcome_.version == 0) {
      // Spec 2.2 "identifying the protocol version": "PROXY" is v1, the signature
      // (starting with CR) is v2, anything else is not covered and is dropped.
      if (byte == static_cast<std::uint8_t>(v1_magic.front())) {
        outcome_.version = 1;
      } else if (byte == static_cast<std::uint8_t>(v2_signature.front())) {
        outcome_.version = 2;
      } else {
        fail("no PROXY protocol header (required on this listener)");
        break;
      }
    }
    if (outcome_.version == 1 ? !step_v1(byte) : !step_v2_fixed(byte)) break;
  }
  return i;
}

bool proxy_header_reader::step_v1(std::uint8_t byte) {
  const std::size_t pos = header_.size();
  const std::size_t max_line = std::min(proxy_v1_max_line, limit_);
  // Refused as soon as the line can no longer end within max_line bytes.
  if (pos >= max_line || (pos + 1 == max_line && byte != '\n')) {
    fail("PROXY v1 line without CRLF in its first " + std::to_string(max_line) + " bytes");
    return false;
  }
  if (pos < v1_magic.size()) {
    if (byte != static_cast<std::uint8_t>(v1_magic[pos])) {
      fail("no PROXY protocol header (required on this listener)");
      return false;
    }
    header_.push_back(static_cast<char>(byte));
    return true;
  }
  // Spec 2.1: only a complete CRLF ends the line; a lone CR or LF is an error.
  const bool after_cr = header_.back() == '\r';
  if (after_cr != (byte == '\n')) {
    fail(after_cr ? "PROXY v1 line: CR not followed by LF" : "PROXY v1 line: LF without CR");
    return false;
  }
  header_.push_back(static_cast<char>(byte));
  if (byte == '\n') {
    finish_v1();
    return false;
  }

  if (v1_proto_ == v1_proto::undecided) return step_v1_protocol(byte, pos);
  // Spec 2.1: "the receiver must ignore anything presented before the CRLF" after
  // UNKNOWN.
  if (v1_proto_ == v1_proto::unknown) return true;

  return step_v1_field(byte, pos);
}

/// The protocol token after "PROXY " (TCP4, TCP6 or UNKNOWN), refused at the first
/// byte that fits none of them. byte is already in header_, at pos.
bool proxy_header_reader::step_v1_protocol(std::uint8_t byte, std::size_t pos) {
  const std::string_view token(header_.data() + v1_magic.size(), pos - v1_magic.size());
  if (byte == ' ' || byte == '\r') {
    if (token == "TCP4") {
      v1_proto_ = v1_proto::tcp4;
    } else if (token == "TCP6") {
      v1_proto_ = v1_proto::tcp6;
    } else if (token == "UNKNOWN") {
      v1_proto_ = v1_proto::unknown;
    } else {
      fail("PROXY v1 line: unknown protocol \"" + printable(token) + "\"");
      return false;
    }
    if (byte == '\r' && v1_proto_ != v1_proto::unknown) {
      fail("PROXY v1 line: " + std::string(token) + " without addresses");
      return false;
    }
    v1_spaces_ = 1;
    return true;
  }
  const std::string_view so_far(header_.data() + v1_magic.size(), token.size() + 1);
  if (!starts(so_far, "TCP4") && !starts(so_far, "TCP6") && !starts(so_far, "UNKNOWN")) {
    fail("PROXY v1 line: unknown protocol \"" + printable(so_far) + "\"");
    return false;
  }
  return true;
}

/// TCP4/TCP6: one byte of the address and port fields (already in header_, at pos).
bool proxy_header_reader::step_v1_field(std::uint8_t byte, std::size_t pos) {
  // TCP4/TCP6: fields src dst sport dport, separated by exactly one space. Refuse as
  // soon as the shape is wrong; values are checked once the CRLF is in.
  const char prev = header_[pos - 1];
  if (byte == ' ' || byte == '\r') {
    if (prev == ' ') {
      fail("PROXY v1 line: empty field (double or trailing space)");
      return false;
    }
    if (byte == ' ' && ++v1_spaces_ > 4) {
      fail("PROXY v1 line: more than 4 fields after the protocol");
      return false;
    }
    if (byte == '\r' && v1_spaces_ != 4) {
      fail("PROXY v1 line: fewer than 4 fields after the protocol");
      return false;
    }
    return true;
  }
  const bool port_field = v1_spaces_ >= 3;
  bool allowed = is_digit(byte);
  if (!port_field && v1_proto_ == v1_proto::tcp4) allowed = allowed || byte == '.';
  if (!port_field && v1_proto_ == v1_proto::tcp6) {
    allowed = is_hex(byte) || byte == ':' || byte == '.';
  }
  if (!allowed) {
    fail(std::string("PROXY v1 line: invalid character in ") + (port_field ? "port" : "address"));
    return false;
  }
  return true;
}

void proxy_header_reader::finish_v1() {
  outcome_.consumed = header_.size();
  if (v1_proto_ == v1_proto::unknown) {
    outcome_.command = proxy_command::local;
    outcome_.status = proxy_status::ok;
    std::string().swap(header_);
    return;
  }
  // "PROXY proto src dst sport dport" (CRLF stripped); step_v1 guaranteed 6 non-empty
  // fields separated by single spaces.
  std::vector<std::string_view> fields;
  std::string_view line(header_.data(), header_.size() - 2);
  for (std::size_t start = 0;;) {
    const auto space = line.find(' ', start);
    fields.push_back(line.substr(start, space == std::string_view::npos ? space : space - start));
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  if (fields.size() != 6) return fail("PROXY v1 line: wrong number of fields");

  std::optional<ip::address> src;
  std::optional<ip::address> dst;
  if (v1_proto_ == v1_proto::tcp4) {
    if (auto a = parse_ipv4(fields[2])) src = *a;
    if (auto a = parse_ipv4(fields[3])) dst = *a;
  } else {
    if (auto a = parse_ipv6(fields[2])) src = *a;
    if (auto a = parse_ipv6(fields[3])) dst = *a;
  }
  const char* family = v1_proto_ == v1_proto::tcp4 ? "IPv4" : "IPv6";
  if (!src) return fail(std::string("PROXY v1 line: source is not an ") + family + " address");
  if (!dst) return fail(std::string("PROXY v1 line: destination is not an ") + family + " address");
  const auto sport = parse_port(fields[4]);
  const auto dport = parse_port(fields[5]);
  if (!sport || !dport) return fail("PROXY v1 line: port not a decimal in 0..65535");

  outcome_.command = proxy_command::proxy;
  outcome_.source.emplace(*src, *sport);
  outcome_.destination.emplace(*dst, *dport);
  outcome_.status = proxy_status::ok;
  std::string().swap(header_);
}

bool proxy_header_reader::step_v2_fixed(std::uint8_t byte) {
  const std::size_t pos = header_.size();
  if (pos >= limit_) {
    fail("PROXY v2 header above the limit of " + std::to_string(limit_) + " bytes");
    return false;
  }
  if (pos < v2_signature.size()) {
    if (byte != static_cast<std::uint8_t>(v2_signature[pos])) {
      fail("no PROXY protocol header (bad v2 signature)");
      return false;
    }
  } else if (pos == 12) {
    // Spec 2.2: version nibble must be 2; command LOCAL or PROXY, others dropped.
    if ((byte >> 4) != v2_version) {
      fail("PROXY v2 header: unsupported version " + std::to_string(byte >> 4));
      return false;
    }
    const auto cmd = byte & 0xf;
    if (cmd != v2_cmd_local && cmd != v2_cmd_proxy) {
      fail("PROXY v2 header: unknown command " + std::to_string(cmd));
      return false;
    }
  } else if (pos == 13) {
    // A LOCAL header's family is ignored (spec 2.2); a PROXY one must be TCP.
    const bool proxy = (static_cast<std::uint8_t>(header_[12]) & 0xf) == v2_cmd_proxy;
    if (proxy && byte != v2_tcp_over_ipv4 && byte != v2_tcp_over_ipv6) {
      fail("PROXY v2 header: " + describe_family(byte));
      return false;
    }
  }
  header_.push_back(static_cast<char>(byte));
  if (header_.size() < v2_fixed_size) return true;

  // Spec 2.2: the header is exactly 16 + length bytes.
  const std::size_t length = read_be16(header_, 14);
  const bool proxy = (static_cast<std::uint8_t>(header_[12]) & 0xf) == v2_cmd_proxy;
  const std::size_t block =
      static_cast<std::uint8_t>(header_[13]) == v2_tcp_over_ipv4 ? v2_ipv4_block : v2_ipv6_block;
  if (proxy && length < block) {
    fail("PROXY v2 header: length " + std::to_string(length) + " shorter than the " +
         std::to_string(block) + "-byte address block");
    return false;
  }
  v2_total_ = v2_fixed_size + length;
  if (v2_total_ > limit_) {
    fail("PROXY v2 header of " + std::to_string(v2_total_) + " bytes above the limit of " +
         std::to_string(limit_));
    return false;
  }
  header_.reserve(v2_total_);
  if (v2_total_ == v2_fixed_size) {
    finish_v2();
    return false;
  }
  return true;
}

void proxy_header_reader::finish_v2() {
  outcome_.consumed = header_.size();
  const bool proxy = (static_cast<std::uint8_t>(header_[12]) & 0xf) == v2_cmd_proxy;
  if (!proxy) {
    outcome_.command = proxy_command::local;
    outcome_.status = proxy_status::ok;
    std::string().swap(header_);
    return;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(header_.data()) + v2_fixed_size;
  std::size_t block = 0;
  if (static_cast<std::uint8_t>(header_[13]) == v2_tcp_over_ipv4) {
    ip::address_v4::bytes_type src;
    ip::address_v4::bytes_type dst;
    std::copy(p, p + 4, src.begin());
    std::copy(p + 4, p + 8, dst.begin());
    outcome_.source.emplace(ip::address_v4(src), read_be16(header_, v2_fixed_size + 8));
    outcome_.destination.emplace(ip::address_v4(dst), read_be16(header_, v2_fixed_size + 10));
    block = v2_ipv4_block;
  } else {
    ip::address_v6::bytes_type src;
    ip::address_v6::bytes_type dst;
    std::copy(p, p + 16, src.begin());
    std::copy(p + 16, p + 32, dst.begin());
    outcome_.source.emplace(ip::address_v6(src), read_be16(header_, v2_fixed_size + 32));
    outcome_.destination.emplace(ip::address_v6(dst), read_be16(header_, v2_fixed_size + 34));
    block = v2_ipv6_block;
  }
  // Spec 2.2.x: TLVs (type, 16-bit length, value) fill the rest of the header. We use
  // none of them, but a TLV running past the header means the sender and we disagree
  // on where the HTTP request starts.
  for (std::size_t at = v2_fixed_size + block; at < header_.size();) {
    if (header_.size() - at < v2_tlv_header) {
      outcome_.source.reset();
      outcome_.destination.reset();
      return fail("PROXY v2 header: truncated TLV at offset " + std::to_string(at));
    }
    const std::size_t value = read_be16(header_, at + 1);
    if (header_.size() - at - v2_tlv_header < value) {
      outcome_.source.reset();
      outcome_.destination.reset();
      return fail("PROXY v2 header: TLV at offset " + std::to_string(at) + " runs past the header");
    }
    at += v2_tlv_header + value;
  }
  outcome_.command = proxy_command::proxy;
  outcome_.status = proxy_status::ok;
  std::string().swap(header_);
}

void proxy_header_reader::fail(std::string detail) {
  outcome_.status = proxy_status::invalid;
  outcome_.consumed = 0;
  outcome_.detail = std::move(detail);
  std::string().swap(header_);
}

}  // namespace omsgw::net
