#pragma once
/// \file
/// The tunnel phase of a connection: writes "200 Connection established" (followed
/// by any bytes the relay already passed on), then relays both ways with one pump per
/// direction: copy_pump while the TLS handshake is inspected (or when splice(2) is not
/// available, or the upstream is not a plain socket), splice_pump after. It keeps the
/// handshake and idle deadlines (one timer, re-armed only when it fires) and the byte
/// counts (reported at its thread's byte_report_tick and at its end), and tells its end
/// to the connection, whose close() stops it.
/// While the handshake is inspected only what the inspector took is relayed: the
/// client's bytes after its ClientHello wait in its pump (which reads no more) until the
/// server's hello is judged, and an alert that ends the handshake before a verdict is
/// passed on, then the tunnel closes with nothing more relayed either way.

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/byte_report_tick.hpp"
#include "net/byte_stream.hpp"
#include "net/connection_observer.hpp"
#include "net/copy_pump.hpp"
#include "net/pump.hpp"
#include "net/splice_pump.hpp"

namespace omsgw::net {

class tunnel_relay final : public pump_listener,
                           public byte_report_tick::member,
                           public std::enable_shared_from_this<tunnel_relay> {
 public:
  /// Called once when the tunnel ends by itself (peers, deadline, inspection).
  using end_handler = std::function<void(close_reason, std::string detail)>;

  struct setup {
    tcp::socket client;
    upstream_outcome upstream;  ///< ok(): the stream, its endpoint and early bytes
    std::string to_upstream;    ///< the client's bytes after its request header
    established_info info;      ///< seconds counted up to the 200 being written
    std::chrono::steady_clock::time_point request_at;
    tunnel_options options;
    deadlines limits;
    std::shared_ptr<connection_observer> observer;
  };
  tunnel_relay(setup s, end_handler on_end);
  ~tunnel_relay();

  void start();
  /// Stops the pumps and the timer, closes both sides, reports the last byte counts;
  /// returns the statistics. No callback after this. Idempotent.
  tunnel_stats stop(close_reason reason, std::string detail);

 private:
  void established();
  void start_pumps();
  void run(direction d);
  std::size_t inspect(direction d, const std::uint8_t* data, std::size_t n);
  void resume_client();
  void account(direction d, std::size_t n);
  void arm();
  void on_timer();
  void report_bytes() override;
  void end(close_reason reason, std::string detail);
  void end_after_alert();
  std::shared_ptr<pump_listener> self() { return shared_from_this(); }

  // pump_listener
  void on_moved(direction d, std::size_t n) override;
  void on_cycle_done(direction d) override;
  void on_end(direction d) override;
  void on_failed(direction d, const boost::system::error_code& ec) override;
  std::size_t on_data(direction d, const std::uint8_t* data, std::size_t n) override;
  void on_splice_unavailable(direction d) override;

  socket_stream client_;
  std::unique_ptr<byte_stream> upstream_;
  std::shared_ptr<connection_observer> observer_;
  deadlines limits_;
  bool enforce_ = true;  ///< false (mode: report): a TLS verdict is only reported
  /// What start() needs (client socket and stream moved out); released once the
  /// pumps run, so an established tunnel keeps only the fields above.
  std::unique_ptr<setup> s_;
  end_handler on_end_;
  boost::asio::steady_timer timer_;
  byte_report_tick& tick_;
  std::unique_ptr<tls::handshake_inspector> inspector_;
  std::optional<copy_pump> copy_[2];
  std::optional<splice_pump> splice_[2];
  bool splice_ok_ = true;  ///< false: copy for the rest of this tunnel
  /// The client's pump is idle, its bytes held: the client waits for the server's hello.
  bool client_held_ = false;
  /// An alert ended the handshake before a verdict, in this direction: once it is
  /// written, the tunnel closes; nothing more is relayed either way.
  std::optional<direction> alert_from_;
  bool ending_ = false;  ///< end() was called
  bool ended_[2] = {false, false};
  std::optional<direction> first_end_;  ///< who ended first decides the close reason
  bool stopped_ = false;
  std::chrono::steady_clock::time_point established_at_, handshake_deadline_, last_activity_;
  std::uint64_t unreported_[2] = {0, 0};
  std::uint64_t total_[2] = {0, 0};
};

}  // namespace omsgw::net
