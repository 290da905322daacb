#include "db/model_store.h"

#include <algorithm>

namespace recs::db {
namespace {

int index_of(const std::vector<std::int64_t>& ids, std::int64_t id) {
  auto it = std::lower_bound(ids.begin(), ids.end(), id);
  return it != ids.end() && *it == id ? static_cast<int>(it - ids.begin()) : -1;
}

}  // namespace

int StoredModel::user_index(std::int64_t id) const { return index_of(user_ids, id); }
int StoredModel::movie_index(std::int64_t id) const { return index_of(movie_ids, id); }

}  // namespace recs::db
