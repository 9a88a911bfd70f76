#include "actors/refusal.hpp"

namespace omsgw::actors {

void record_refusal(metrics::gateway_metrics& m, const events::context& ctx,
                    const net::verdict& v, std::string_view message) {
  const auto idx = static_cast<std::size_t>(v.reason);
  if (v.reported()) {
    m.count_would_deny(idx);
  } else {
    m.count_rejection(idx);
  }
  constexpr auto lvl = events::level::warn;
  const auto event = static_cast<events::id>(static_cast<int>(v.event));
  if (!events::enabled(lvl) || !events::admit(lvl, event, ctx)) return;
  const char* reason = net::to_string(v.reason);
  if (v.reported()) {
    events::write(lvl, event, ctx, fmt::format("{} (report mode: let through)", message),
                  {{"reason", reason}, {"would_deny", "true"}});
  } else {
    events::write(lvl, event, ctx, message, {{"reason", reason}});
  }
}

}  // namespace omsgw::actors
