#pragma once
/// \file
/// What the two pumps (copy_pump, splice_pump) tell the tunnel that owns them. A pump
/// moves bytes one way in cycles: wait until the sender has bytes, move one chunk,
/// and only then wait for more, so a receiver that does not drain stops the sender
/// (the kernel's socket buffers fill and TCP flow control pushes back). After each
/// cycle the owner picks the pump for the next one (copy while the TLS handshake is
/// inspected, splice after).

#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>

namespace omsgw::net {

enum class direction { to_upstream = 0, to_client = 1 };
inline int index(direction d) { return static_cast<int>(d); }

class pump_listener {
 public:
  virtual ~pump_listener() = default;
  /// n bytes reached the receiver (also called for part of a chunk while the receiver
  /// is slow, so an active tunnel never looks idle).
  virtual void on_moved(direction d, std::size_t n) = 0;
  /// A cycle ended; the pump is idle until it is run again.
  virtual void on_cycle_done(direction d) = 0;
  /// The sender ended its direction in order (the owner passes the half-close on).
  virtual void on_end(direction d) = 0;
  virtual void on_failed(direction d, const boost::system::error_code& ec) = 0;
  /// copy_pump: bytes read, before they are written. Returns how many of them, from the
  /// start, to write now: n (all), or fewer, and the pump keeps the rest (held): its
  /// cycle ends after the prefix is written, and its next run() shows the rest again
  /// before it reads more. Nothing is written when the owner stopped the pump meanwhile
  /// (it closed the tunnel).
  virtual std::size_t on_data(direction d, const std::uint8_t* data, std::size_t n) = 0;
  /// splice_pump: splice(2) cannot be used here (no pipe, or not supported); nothing
  /// was moved in this cycle.
  virtual void on_splice_unavailable(direction d) = 0;
};

}  // namespace omsgw::net
