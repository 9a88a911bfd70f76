#include "net/copy_pump.hpp"

#include <algorithm>
#include <vector>

namespace omsgw::net {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

/// Cycle buffers of one I/O thread: taken for one read and its write, then returned.
struct buffer_pool {
  static constexpr std::size_t cap = 64;
  std::vector<std::unique_ptr<std::uint8_t[]>> free;
};
thread_local buffer_pool t_buffers;

std::unique_ptr<std::uint8_t[]> acquire_buffer() {
  if (t_buffers.free.empty())
    return std::unique_ptr<std::uint8_t[]>(new std::uint8_t[copy_pump::chunk]);
  auto b = std::move(t_buffers.free.back());
  t_buffers.free.pop_back();
  return b;
}

bool would_block(const error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

copy_pump::~copy_pump() { release(); }

void copy_pump::release() {
  if (buf_ && t_buffers.free.size() < buffer_pool::cap) t_buffers.free.push_back(std::move(buf_));
  buf_.reset();
  std::string().swap(preload_);
  data_ = nullptr;
  size_ = 0;
}

void copy_pump::stop() {
  stopped_ = true;
  release();
}

void copy_pump::run(std::shared_ptr<pump_listener> owner) {
  if (stopped_) return;
  if (holding()) return show(owner);
  from_.async_wait(byte_stream::wait_for::read, [this, owner](const error_code& ec) {
    if (stopped_) return;
    if (ec) return owner->on_failed(dir_, ec);
    read_chunk(owner);
  });
}

void copy_pump::run_with(std::string bytes, std::shared_ptr<pump_listener> owner) {
  if (stopped_) return;
  preload_ = std::move(bytes);
  data_ = reinterpret_cast<const std::uint8_t*>(preload_.data());
  size_ = preload_.size();
  show(owner);
}

void copy_pump::read_chunk(const std::shared_ptr<pump_listener>& owner) {
  buf_ = acquire_buffer();
  error_code ec;
  const std::size_t n = from_.read_some(asio::buffer(buf_.get(), chunk), ec);
  if (would_block(ec)) {
    release();
    return run(owner);
  }
  if (ec == asio::error::eof) {
    release();
    return owner->on_end(dir_);  // orderly end of this direction
  }
  if (ec) {
    release();
    return owner->on_failed(dir_, ec);
  }
  data_ = buf_.get();
  size_ = n;
  show(owner);
}

void copy_pump::show(const std::shared_ptr<pump_listener>& owner) {
  written_ = 0;
  pass_ = std::min(owner->on_data(dir_, data_, size_), size_);
  if (stopped_) return release();
  write(owner);
}

void copy_pump::write(std::shared_ptr<pump_listener> owner) {
  while (written_ < pass_) {
    error_code ec;
    const std::size_t m = to_.write_some(asio::buffer(data_ + written_, pass_ - written_), ec);
    if (would_block(ec)) {
      // A slow receiver: nothing is read from the sender until it takes these bytes.
      to_.async_wait(byte_stream::wait_for::write, [this, owner](const error_code& wec) {
        if (stopped_) return;
        if (wec) return owner->on_failed(dir_, wec);
        write(owner);
      });
      return;
    }
    if (ec) {
      release();
      return owner->on_failed(dir_, ec);
    }
    written_ += m;
  }
  const std::size_t moved = pass_;
  if (pass_ < size_) {  // the rest is held for the next run()
    data_ += pass_;
    size_ -= pass_;
    pass_ = 0;
  } else {
    release();
  }
  if (moved > 0) owner->on_moved(dir_, moved);
  if (!stopped_) owner->on_cycle_done(dir_);
}

}  // namespace omsgw::net
