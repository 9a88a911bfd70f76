#include "actors/perfmon_writer.hpp"

#include "metrics/events.hpp"

namespace omsgw::actors {

bool perfmon_error_is_new(const std::string& last_error, const std::string& error_text) {
  return !error_text.empty() && error_text != last_error;
}

caf::behavior perfmon_writer(caf::stateful_actor<perfmon_writer_state>* self, std::string path,
                             services_ptr svc) {
  self->state.svc = std::move(svc);
  self->state.log.emplace(std::move(path), metrics::perfmon_host_name());
  return {
      [=](sample_atom, const perfmon_sample_msg& m) {
        auto& s = self->state;
        const auto r = s.log->append(m.sample, m.at);
        const auto& file = s.log->path();
        if (!r) {
          const std::string text = r.error.message();
          if (perfmon_error_is_new(s.last_error, text)) {
            s.svc->metrics->errors.Increment();
            OMSGW_EVENT_F(error, application_error, events::context{}, ({{"file", file}}),
                          "perfmon: cannot write the counter log: {} (logged once until it "
                          "changes or clears)",
                          text);
          }
          s.last_error = text;
          return;
        }
        if (!s.last_error.empty()) {
          OMSGW_EVENT_F(info, info, events::context{}, ({{"file", file}}),
                        "perfmon: the counter log is written again");
          s.last_error.clear();
        }
        if (!r.rotated_to.empty()) {
          OMSGW_EVENT_F(info, info, events::context{}, ({{"file", file}, {"moved_to", r.rotated_to}}),
                        "perfmon: the existing log had another header (host, time zone or "
                        "columns): moved aside, new log started");
        }
      },
  };
}

}  // namespace omsgw::actors
