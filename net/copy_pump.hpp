#pragma once
/// \file
/// Moves bytes one way between two byte streams through a user-space buffer, showing
/// each chunk to the owner first (TLS handshake inspection). Buffers come from a small
/// per-thread pool for the length of one cycle, so an idle tunnel holds none.

#include <memory>
#include <string>

#include "net/byte_stream.hpp"
#include "net/pump.hpp"

namespace omsgw::net {

class copy_pump {
 public:
  /// Bytes read per cycle at most.
  static constexpr std::size_t chunk = 32 * 1024;

  copy_pump(direction d, byte_stream& from, byte_stream& to) : dir_(d), from_(from), to_(to) {}
  ~copy_pump();
  copy_pump(const copy_pump&) = delete;
  copy_pump& operator=(const copy_pump&) = delete;

  /// One cycle: waits until from_ is readable, reads, shows, writes what the owner lets
  /// pass (pump_listener::on_data). With bytes held from the last cycle, shows those
  /// instead, without reading. The owner is kept alive by the pending operations; its
  /// callbacks run on the streams' executor.
  void run(std::shared_ptr<pump_listener> owner);
  /// Between cycles: bytes the owner did not let pass yet are held.
  bool holding() const { return size_ > 0; }
  /// One cycle over bytes already received (they are shown to the owner first).
  void run_with(std::string bytes, std::shared_ptr<pump_listener> owner);
  /// No callback after this; the buffer goes back to the pool.
  void stop();

 private:
  void read_chunk(const std::shared_ptr<pump_listener>& owner);
  void show(const std::shared_ptr<pump_listener>& owner);
  void write(std::shared_ptr<pump_listener> owner);
  void release();

  direction dir_;
  byte_stream& from_;
  byte_stream& to_;
  std::unique_ptr<std::uint8_t[]> buf_;  // held for one cycle
  std::string preload_;                  // run_with's bytes, written instead of buf_
  const std::uint8_t* data_ = nullptr;   // the cycle's bytes (then the held ones)
  std::size_t size_ = 0;
  std::size_t pass_ = 0;  // of size_, to write in this cycle
  std::size_t written_ = 0;
  bool stopped_ = false;
};

}  // namespace omsgw::net
