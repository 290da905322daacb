// The live recommendations read back user by user from one snapshot, so a
// publication can compare each new list with the one it replaces (the churn
// of eval/churn.h) while it writes, without holding the old set in memory.
// Backend-neutral; db/sqlite.h makes the SQLite one.
#pragma once

#include <cstdint>
#include <vector>

namespace recs::db {

class LiveLists {
 public:
  virtual ~LiveLists() = default;

  // Fills `movies` with `user`'s live list as of the snapshot, best first
  // (empty when the user has none). Calls come with strictly ascending user
  // ids: the set is streamed once in key order.
  virtual void list_of(std::int64_t user, std::vector<std::int64_t>& movies) = 0;
};

// Every list of one set in user order: what a publish of staged shards reads
// back to measure the set it is about to make live.
class ListStream {
 public:
  virtual ~ListStream() = default;

  // The next user's list, best first; false after the last.
  virtual bool next(std::int64_t& user, std::vector<std::int64_t>& movies) = 0;
};

}  // namespace recs::db
