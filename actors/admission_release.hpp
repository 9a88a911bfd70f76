#pragma once
/// \file
/// How a session and its link free their connection's place in the admission.

#include <cstdint>
#include <memory>

namespace omsgw::actors {

class admission;

/// Frees one connection's admission place: idempotent, and nothing once the admission
/// is gone. A plain value, so handing it to the session actor and to the session link
/// copies a weak pointer and a number (a std::function allocated for each, twice per
/// connection).
struct admission_release {
  std::weak_ptr<admission> gate;
  std::uint64_t id = 0;
  void operator()() const;
};

}  // namespace omsgw::actors
