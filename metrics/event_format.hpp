#pragma once
/// \file
/// How an event becomes a line (SPEC.md "Events": text or JSON), and the spdlog
/// formatter that does it on the logger's own thread. The caller's thread only packs
/// the event into a record (pack_record: a few copies, no escaping, no clock
/// formatting); `event_formatter` unpacks and formats it when the asynchronous logger
/// writes the line.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/formatter.h>

#include "config/config.hpp"
#include "metrics/event_types.hpp"

namespace omsgw::events {

inline constexpr std::size_t max_message_bytes = 4096;
inline constexpr std::size_t max_field_bytes = 1024;

/// Formats a line without writing it (pure). Values are escaped so that one event is
/// always one line and a JSON line is valid JSON whatever the bytes (control characters,
/// quotes, invalid UTF-8); a message longer than max_message_bytes or a field value
/// longer than max_field_bytes is cut, marked "...".
std::string format_line(config::log_format format, level lvl, id event, const context& ctx,
                        std::string_view message, std::initializer_list<field> fields,
                        std::int64_t unix_ms);

/// A JSON string literal of text (quotes included); invalid UTF-8 becomes U+FFFD.
std::string json_quote(std::string_view text);

/// "trace" .. "error", "off".
const char* level_name(level lvl);

/// An event as it travels through the logger's queue: id, context, message and fields,
/// each length-prefixed, so any byte (NUL included) survives.
std::string pack_record(id event, const context& ctx, std::string_view message,
                        std::initializer_list<field> fields);

/// A packed record read back; the views point into the packed text.
struct record_view {
  id event = id::info;
  context ctx;
  std::string_view message;
  std::vector<field> fields;
};
/// False when `packed` is not a whole record (then nothing is read).
bool unpack_record(std::string_view packed, record_view& out);

/// Formats a record into a line (the format_line rules).
std::string format_record(config::log_format format, level lvl, const record_view& r,
                          std::int64_t unix_ms);

/// The spdlog formatter of the event logger: each message is a packed record, written
/// as one line in the format `format()` returns at that moment (so a reload that changes
/// log.format applies to the lines not yet written). A message that is not a record is
/// written as it is.
class event_formatter final : public spdlog::formatter {
 public:
  using format_source = config::log_format (*)();
  explicit event_formatter(format_source format) : format_(format) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  format_source format_;
};

/// The event level for a spdlog level (spdlog's "critical" reads as error).
level from_spdlog(int spdlog_level);

}  // namespace omsgw::events
