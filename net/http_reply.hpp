#pragma once
/// \file
/// The gateway's own HTTP answers to the client: the 200 that opens a tunnel, and the
/// final answers (4xx/5xx) after which it closes gracefully. Reason phrases are
/// Beast's (RFC 9110 15).

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace omsgw::net {

using tcp = boost::asio::ip::tcp;

/// "HTTP/1.1 200 Connection established\r\n\r\n": the answer that opens a tunnel
/// (RFC 9110 9.3.6: a 2xx to CONNECT has no content and no framing headers).
std::string_view connection_established();

/// A complete final answer: status line with Beast's reason phrase, extra_headers
/// (each ending in CRLF), "Content-Length: 0" and "Connection: close".
std::string final_reply(int status, std::string_view extra_headers = {});

/// Writes text to socket, then closes gracefully: shutdown (send), read and discard
/// what the client still sends for at most linger, close. Closing with unread data
/// would make the kernel send RST, and the client could lose the answer (RFC 9112
/// 9.6, "tear-down"). With max_lingering_refusals (net/limits.hpp) already lingering,
/// it closes right after the write instead. Takes the socket; done (optional) runs
/// once it is closed.
void async_reply_and_close(tcp::socket socket, std::string text,
                           std::chrono::steady_clock::duration linger,
                           std::function<void()> done = {});

}  // namespace omsgw::net
