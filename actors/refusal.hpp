#pragma once
/// \file
/// The one place a refusal is recorded: counted in omsgw_rejections_total{reason}
/// (enforced) or omsgw_report_would_deny_total{reason} (mode: report), and logged
/// with its event id (105/106/400/402), reason= and, when only reported,
/// would_deny=true. The verdict comes from net/decision.hpp; callers act on it (close,
/// answer 403/503, let through) and never re-derive it.

#include <string_view>

#include "metrics/events.hpp"
#include "metrics/metrics.hpp"
#include "net/policy.hpp"

namespace omsgw::actors {

/// Records v (which must name a reason). message says what is refused; a reported
/// verdict's line adds " (report mode: let through)".
void record_refusal(metrics::gateway_metrics& m, const events::context& ctx,
                    const net::verdict& v, std::string_view message);

}  // namespace omsgw::actors
