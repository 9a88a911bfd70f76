#pragma once
// Feeds an incremental reader (request_reader, proxy_header_reader) a byte string cut
// at given offsets: the parsers' outcome must not depend on how the bytes arrive.

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace omsgw::net::testing {

template <class Reader>
struct fed_result {
  std::decay_t<decltype(std::declval<Reader&>().feed("", 0))> outcome;
  std::string leftover;
};

template <class Reader>
fed_result<Reader> feed_chunks(const std::string& bytes, const std::vector<std::size_t>& cuts,
                               std::size_t limit) {
  Reader reader(limit);
  std::size_t start = 0;
  fed_result<Reader> r;
  for (std::size_t cut : cuts) {
    r.outcome = reader.feed(bytes.data() + start, cut - start);
    start = cut;
  }
  r.outcome = reader.feed(bytes.data() + start, bytes.size() - start);
  r.leftover = reader.leftover();
  return r;
}

}  // namespace omsgw::net::testing
