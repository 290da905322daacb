// The catalog's movies as the business filters see them.
#pragma once

#include <cstdint>
#include <string>

namespace recs {

struct MovieGenres {
  std::int64_t movie_id = 0;  // external id
  std::string genres;         // '|'-separated, as MovieLens writes them
};

}  // namespace recs
