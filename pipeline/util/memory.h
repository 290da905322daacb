// Large arrays on transparent huge pages.
//
// Filling a fresh array of hundreds of megabytes costs one page fault per
// 4 KiB page; on virtual machines a fault is expensive, and on the 2-core VM
// measured here the faults of loading 25 M ratings cost more than reading
// them from SQLite. Where the kernel leaves huge pages to madvise (Debian's
// default), asking for them makes that one fault per 2 MiB.
#pragma once

#include <cstddef>
#include <vector>

namespace recs {

// Asks for transparent huge pages on the whole 2 MiB pages inside
// [p, p + bytes). Best effort: smaller ranges and kernels without THP are
// left as they are.
void advise_huge_pages(const void* p, std::size_t bytes);

// v.reserve(n) with the new storage advised for huge pages before it is
// first written.
template <typename T>
void reserve_huge(std::vector<T>& v, std::size_t n) {
  if (n <= v.capacity()) return;
  std::vector<T> fresh;
  fresh.reserve(n);
  advise_huge_pages(fresh.data(), n * sizeof(T));
  fresh.assign(v.begin(), v.end());
  v.swap(fresh);
}

// v.resize(n) with the new storage advised for huge pages before it is
// first written (the value-initialisation touches every page).
template <typename T>
void resize_huge(std::vector<T>& v, std::size_t n) {
  reserve_huge(v, n);
  v.resize(n);
}

}  // namespace recs
