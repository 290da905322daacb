#include "app/import.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "app/train.h"
#include "db/database.h"
#include "db/runs.h"
#include "io/movielens.h"
#include "test_util.h"
#include "util/error.h"

namespace recs {
namespace {

using test::TempDir;
using test::write_file;

const char* kMovies =
    "movieId,title,genres\r\n"
    "1,Toy Story (1995),Adventure|Animation\r\n"
    "11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
    "4,\"11'09\"\"01 - September 11 (2002)\",Drama\r\n"
    "193609,Andrew Dice Clay: Dice Rules (1991),Comedy\r\n";

struct Fixture {
  TempDir dir;
  Config config;
  Fixture() {
    config = load_config({}, {});
    config.database = dir / "recs.db";
    config.import.ratings = dir / "ratings.csv";
    config.import.movies = dir / "movies.csv";
    write_file(config.import.movies, kMovies);
  }
  ImportSummary import(const std::string& ratings, ImportedRows* keep = nullptr) {
    write_file(config.import.ratings, ratings);
    auto db = db::open(config.database);
    db::RunRecord run(*db, "import", "");
    return run_import(*db, config, run, keep);
  }
  // What the import kept, as the run's stages use it, against the table read
  // back: equal in every column.
  void expect_kept_rows_equal_the_table(ImportedRows& keep) {
    ASSERT_TRUE(keep.kept);
    auto db = db::open(config.database);
    std::vector<double> raw, kept_raw;
    std::vector<std::int64_t> at, kept_at;
    const RatingMatrix read = load_ratings(*db, config, &raw, &at);
    const RatingMatrix kept = imported_ratings(std::move(keep.rows), *db, config, &kept_raw,
                                               keep.rated_at ? &kept_at : nullptr);
    EXPECT_EQ(kept.user_ids, read.user_ids);
    EXPECT_EQ(kept.movie_ids, read.movie_ids);
    EXPECT_EQ(kept.user, read.user);
    EXPECT_EQ(kept.movie, read.movie);
    EXPECT_EQ(kept.value, read.value);
    EXPECT_EQ(kept_raw, raw);
    if (keep.rated_at) {
      EXPECT_EQ(kept_at, at);
    }
  }
  std::string error(const std::string& ratings) {
    try {
      import(ratings);
    } catch (const InputError& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::string dump() {
    return test::sqlite(config.database,
                        "SELECT * FROM ratings ORDER BY 1, 2; SELECT * FROM movies ORDER BY 1;"
                        "SELECT * FROM movie_stats ORDER BY 1;");
  }
};

const std::string kHeader = "userId,movieId,rating,timestamp\n";

TEST(ReadRatings, ParsesSortsAndMaps) {
  Fixture f;
  write_file(f.config.import.ratings, kHeader + "2,11,4.5,10\n1,193609,0.5,20\n1,1,5,30");
  auto r = read_ratings(f.config.import.ratings, f.config.import, nullptr);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].user, 1);
  EXPECT_EQ(r.rows[0].movie, 1);
  EXPECT_EQ(r.rows[1].movie, 193609);
  EXPECT_DOUBLE_EQ(r.rows[1].rating, 0.5);
  EXPECT_EQ(r.rows[2].user, 2);
  EXPECT_EQ(r.rows[2].timestamp, 10);
}

TEST(ReadRatings, BadRowsNameFileLineAndReason) {
  Fixture f;
  std::string file = f.config.import.ratings.string();
  EXPECT_EQ(f.error(kHeader + "1,1,4\n"),
            file + ":2: expected 4 fields (userId,movieId,rating,timestamp), got 3");
  EXPECT_EQ(f.error(kHeader + "1,1,4,1\nx,1,4,1\n"), file + ":3: userId is not an integer: 'x'");
  EXPECT_EQ(f.error(kHeader + "1,-4,4,1\n"),
            file + ":2: movieId must be a positive integer, got -4");
  EXPECT_EQ(f.error(kHeader + "1,99999999999999999999,4,1\n"),
            file + ":2: movieId is out of range: '99999999999999999999'");
  EXPECT_EQ(f.error(kHeader + "1,1,nan,1\n"), file + ":2: rating is not a finite number: 'nan'");
  EXPECT_EQ(f.error(kHeader + "1,1,,1\n"), file + ":2: rating is not a number: ''");
  EXPECT_EQ(f.error(kHeader + "1,1,5.5,1\n"),
            file + ":2: rating 5.5 is outside the scale [0.5, 5]");
  EXPECT_EQ(f.error(kHeader + "1,1,4,soon\n"),
            file + ":2: timestamp is not a non-negative integer: 'soon'");
  EXPECT_EQ(f.error(kHeader + "1,2,4,1\n"), file + ":2: movie 2 is not in the movies file");
  EXPECT_EQ(f.error(kHeader + "1,1,4,1\n1,11,4,1\n1,1,3,1\n"),
            file + ":4: duplicate rating for user 1 and movie 1 (first at line 2)");
  EXPECT_EQ(f.error("user,movie,rating,time\n"),
            file +
                ":1: expected the header 'userId,movieId,rating,timestamp', got "
                "'user,movie,rating,time'");
}

// Movie ids are looked up in a bitmap when the movies file's are small, in
// the set otherwise: both accept exactly the movies of the file.
TEST(ReadRatings, RatingsOfMoviesOutsideTheMoviesFileAreBadRowsForSmallAndHugeIds) {
  Fixture f;
  const std::string file = f.config.import.ratings.string();
  EXPECT_EQ(f.error(kHeader + "1,1,4,1\n1,193610,4,1\n"),
            file + ":3: movie 193610 is not in the movies file");
  write_file(f.config.import.movies, std::string(kMovies) + "4000000000,Huge Id (2020),Drama\r\n");
  EXPECT_EQ(f.import(kHeader + "1,1,4,1\n1,4000000000,3,1\n").ratings, 2);
  EXPECT_EQ(f.error(kHeader + "1,1,4,1\n1,3999999999,3,1\n"),
            file + ":3: movie 3999999999 is not in the movies file");
}

TEST(ReadRatings, DuplicatesInSortedAndUnsortedFiles) {
  Fixture f;
  std::string file = f.config.import.ratings.string();
  EXPECT_EQ(f.error(kHeader + "1,1,4,1\n1,1,3,1\n"),
            file + ":3: duplicate rating for user 1 and movie 1 (first at line 2)");
  EXPECT_EQ(f.error(kHeader + "2,4,4,1\n1,1,4,1\n1,11,4,1\n2,4,3,1\n"),
            file + ":5: duplicate rating for user 2 and movie 4 (first at line 2)");
}

TEST(Import, UnsortedFileImportsLikeTheSortedOne) {
  Fixture sorted, unsorted;
  sorted.import(kHeader + "1,1,4,1\n1,11,3.5,2\n2,4,1,3\n3,193609,2,4\n");
  auto s = unsorted.import(kHeader + "2,4,1,3\n1,11,3.5,2\n3,193609,2,4\n1,1,4,1\n");
  EXPECT_EQ(s.ratings, 4);
  EXPECT_EQ(s.users, 3);
  EXPECT_EQ(unsorted.dump(), sorted.dump());
}

// Rows of users 1..users on the fixture's four movies, in a scrambled order
// spanning several of the reader's chunks (65,536 rows each).
std::vector<std::string> many_rows(int users) {
  const int movies[] = {1, 4, 11, 193609};
  std::vector<std::string> rows;
  for (int u = 1; u <= users; ++u) {
    for (int m : movies) {
      rows.push_back(std::to_string(u) + "," + std::to_string(m) + "," +
                     std::to_string(1 + (u + m) % 5) + "," + std::to_string(u * 10 + m));
    }
  }
  // A fixed permutation: stride through the rows by a number coprime to their count.
  std::vector<std::string> out;
  const std::size_t n = rows.size();
  for (std::size_t i = 0, j = 0; i < n; ++i, j = (j + 99991) % n) out.push_back(rows[j]);
  return out;
}

std::string csv_of(const std::vector<std::string>& rows) {
  std::string s = kHeader;
  for (const auto& r : rows) s += r + "\n";
  return s;
}

TEST(Import, UnsortedFileOfManyChunksImportsLikeTheSortedOne) {
  std::vector<std::string> rows = many_rows(50000);  // 200,000 rows, 4 chunks
  Fixture shuffled, sorted;
  const ImportSummary s = shuffled.import(csv_of(rows));
  std::sort(rows.begin(), rows.end(), [](const std::string& a, const std::string& b) {
    const auto key = [](const std::string& r) {
      return std::make_pair(std::stoll(r.substr(0, r.find(','))),
                            std::stoll(r.substr(r.find(',') + 1)));
    };
    return key(a) < key(b);
  });
  sorted.import(csv_of(rows));
  EXPECT_EQ(s.ratings, 200000);
  EXPECT_EQ(s.users, 50000);
  EXPECT_EQ(shuffled.dump(), sorted.dump());
}

TEST(Import, DuplicatesAcrossChunksOfAnUnsortedFile) {
  std::vector<std::string> rows = many_rows(50000);
  // The same pair again near the end, with another rating: far from the
  // first in the file and in another chunk.
  const std::string first = rows[10];
  const std::string pair = first.substr(0, first.find(',', first.find(',') + 1));
  const std::size_t at = rows.size() - 5;
  rows.insert(rows.begin() + static_cast<std::ptrdiff_t>(at), pair + ",0.5,7");
  Fixture strict;
  const std::string file = strict.config.import.ratings.string();
  EXPECT_EQ(strict.error(csv_of(rows)),
            file + ":" + std::to_string(at + 2) + ": duplicate rating for user " +
                pair.substr(0, pair.find(',')) + " and movie " + pair.substr(pair.find(',') + 1) +
                " (first at line 12)");
  EXPECT_EQ(strict.dump(), "");  // nothing written

  Fixture skip;
  skip.config.import.skip_bad_rows = true;
  const ImportSummary s = skip.import(csv_of(rows));
  EXPECT_EQ(s.bad_rows, 1);
  EXPECT_EQ(s.ratings, 200000);
  // The first occurrence in the file is kept.
  const std::string rating = first.substr(pair.size() + 1, first.rfind(',') - pair.size() - 1);
  EXPECT_EQ(
      test::sqlite(skip.config.database,
                   "SELECT rating FROM ratings WHERE user_id = " + pair.substr(0, pair.find(',')) +
                       " AND movie_id = " + pair.substr(pair.find(',') + 1) + ";"),
      rating + ".0\n");
  // The log names the skipped row's line, as for a sorted file.
  const RatingsFile read = read_ratings(skip.config.import.ratings, skip.config.import, nullptr);
  ASSERT_EQ(read.bad.count, 1);
  EXPECT_EQ(read.bad.first,
            std::vector<std::string>{skip.config.import.ratings.string() + ":" +
                                     std::to_string(at + 2) + ": duplicate rating for user " +
                                     pair.substr(0, pair.find(',')) + " and movie " +
                                     pair.substr(pair.find(',') + 1) + " (first at line 12)"});
}

TEST(ReadRatings, EachSkippedDuplicateOfAnUnsortedFileNamesItsLine) {
  Fixture f;
  f.config.import.skip_bad_rows = true;
  const std::string file = f.config.import.ratings.string();
  write_file(f.config.import.ratings,
             kHeader + "2,4,4,1\n1,1,4,1\n2,4,3,1\n1,11,4,1\n2,4,2,1\n1,1,5,1\n");
  const RatingsFile read = read_ratings(f.config.import.ratings, f.config.import, nullptr);
  EXPECT_EQ(read.bad.count, 3);
  EXPECT_EQ(read.bad.first,
            (std::vector<std::string>{
                file + ":7: duplicate rating for user 1 and movie 1 (first at line 3)",
                file + ":4: duplicate rating for user 2 and movie 4 (first at line 2)",
                file + ":6: duplicate rating for user 2 and movie 4 (first at line 2)"}));
  ASSERT_EQ(read.rows.size(), 3u);
  EXPECT_EQ(read.rows[2].rating, 4);  // the first of the three is kept
}

// Sorted for its first chunks, out of order after them: the first pass has
// written (and freed) rows by the time it finds out, so the file is parsed
// again and written sorted.
TEST(Import, AFileOutOfOrderAfterItsFirstChunksImportsLikeTheSortedOne) {
  std::vector<std::string> rows = many_rows(50000);
  const auto key = [](const std::string& r) {
    return std::make_pair(std::stoll(r.substr(0, r.find(','))),
                          std::stoll(r.substr(r.find(',') + 1)));
  };
  const auto by_key = [&](const std::string& a, const std::string& b) { return key(a) < key(b); };
  std::sort(rows.begin(), rows.end(), by_key);
  std::vector<std::string> late = rows;
  std::swap(late[150000], late[180000]);  // chunk 3 of 4 out of order
  Fixture out_of_order, sorted;
  const ImportSummary s = out_of_order.import(csv_of(late));
  sorted.import(csv_of(rows));
  EXPECT_EQ(s.ratings, 200000);
  EXPECT_EQ(s.inserted, 200000);
  EXPECT_EQ(out_of_order.dump(), sorted.dump());
}

// The chunks next() handed out before for_each_sorted() are part of the
// sorted rows, and an exception from the visitor stops the merge (which
// runs on another thread) and reaches the caller.
TEST(ReadRatings, SortedRowsIncludeHandedOutChunksAndVisitorErrorsStopTheMerge) {
  Fixture f;
  write_file(f.config.import.ratings, csv_of(many_rows(50000)));
  {
    RatingsReader reader(f.config.import.ratings, f.config.import, nullptr);
    const RatingsReader::Chunk* first = reader.next();
    ASSERT_NE(first, nullptr);
    EXPECT_FALSE(first->sorted);
    std::int64_t n = 0;
    RatingRow prev{};
    bool in_order = true;
    reader.for_each_sorted([&](const RatingRow& r) {
      if (n > 0 && !key_less(prev, r)) in_order = false;
      prev = r;
      ++n;
    });
    EXPECT_EQ(n, 200000);
    EXPECT_TRUE(in_order);
  }
  {
    RatingsReader reader(f.config.import.ratings, f.config.import, nullptr);
    std::int64_t n = 0;
    EXPECT_THROW(reader.for_each_sorted([&](const RatingRow&) {
      if (++n == 70000) throw DatabaseError("disk full");
    }),
                 DatabaseError);
    EXPECT_EQ(n, 70000);
  }
}

TEST(ReadRatings, RatingMapWithoutAnEntryIsAnError) {
  Fixture f;
  // The tutorial's map forgets 0.5.
  f.config.import.rating_map = {{1, -1},  {1.5, -1}, {2, -1},  {2.5, -1}, {3, 0},
                                {3.5, 1}, {4, 1},    {4.5, 1}, {5, 1}};
  EXPECT_EQ(f.error(kHeader + "1,1,4,1\n1,11,0.5,1\n"),
            f.config.import.ratings.string() + ":3: rating 0.5 has no entry in import.rating_map");
  EXPECT_DOUBLE_EQ(map_rating(f.config.import, 3.5, "x"), 1);
  EXPECT_THROW(map_rating(f.config.import, 0.5, "x"), InputError);
}

TEST(ReadRatings, SkipBadRowsCountsThem) {
  Fixture f;
  f.config.import.skip_bad_rows = true;
  auto s = f.import(kHeader + "1,1,4,1\nbad\n1,11,9,1\n1,1,2,1\n2,4,3,1\n");
  EXPECT_EQ(s.bad_rows, 3);
  EXPECT_EQ(s.ratings, 2);
  EXPECT_EQ(test::sqlite(f.config.database, "SELECT rating FROM ratings WHERE user_id = 1;"),
            "4.0\n");
}

TEST(ReadMovies, QuotedTitlesComeOutExact) {
  Fixture f;
  auto m = read_movies(f.config.import.movies, f.config.import);
  ASSERT_EQ(m.rows.size(), 4u);
  EXPECT_EQ(m.rows[0].movie, 1);
  EXPECT_EQ(m.rows[1].title, "11'09\"01 - September 11 (2002)");
  EXPECT_EQ(m.rows[2].title, "American President, The (1995)");
  EXPECT_EQ(m.rows[2].genres, "Comedy|Drama|Romance");
  write_file(f.config.import.movies, "movieId,title,genres\n1,a,b\n1,c,d\n");
  EXPECT_THROW(read_movies(f.config.import.movies, f.config.import), InputError);
  write_file(f.config.import.movies, "movieId,title,genres\n1,\xFF\xFE,d\n");
  EXPECT_THROW(read_movies(f.config.import.movies, f.config.import), InputError);
}

TEST(Import, SameFilesTwiceLeaveTheSameContents) {
  Fixture f;
  std::string data = kHeader + "1,1,4,1\n1,11,3.5,2\n2,4,1,3\n";
  auto first = f.import(data);
  EXPECT_EQ(first.inserted, 3);
  std::string before = f.dump();
  auto second = f.import(data);
  EXPECT_EQ(second.inserted + second.updated + second.deleted, 0);
  EXPECT_EQ(f.dump(), before);
}

TEST(Import, NewerExportAddsChangesAndRemoves) {
  Fixture f;
  f.config.import.max_removed_share = 0.5;  // one of three stored ratings deleted
  f.import(kHeader + "1,1,4,1\n1,11,3.5,2\n2,4,1,3\n");
  auto s = f.import(kHeader + "1,1,5,9\n2,4,1,3\n3,193609,2,4\n");
  EXPECT_EQ(s.inserted, 1);
  EXPECT_EQ(s.updated, 1);
  EXPECT_EQ(s.deleted, 1);
  EXPECT_EQ(test::sqlite(f.config.database, "SELECT * FROM ratings ORDER BY 1, 2;"),
            "1|1|5.0|9\n2|4|1.0|3\n3|193609|2.0|4\n");
  EXPECT_EQ(
      test::sqlite(f.config.database,
                   "SELECT movie_id, rating_count, popularity_rank FROM movie_stats ORDER BY 3;"),
      "1|1|1\n4|1|2\n193609|1|3\n");
}

// The import says how the catalog changed: movies added, given a new title
// or genres, and no longer in the file; nothing on a first import or when
// the file is the same.
TEST(Import, CountsWhatChangedInTheCatalog) {
  Fixture f;
  const std::string ratings = kHeader + "1,1,4,1\n2,4,1,3\n";
  auto first = f.import(ratings);
  EXPECT_EQ(first.catalog.before, 0);
  EXPECT_EQ(first.catalog.added, 4);
  EXPECT_EQ(catalog_changes(first.catalog), "");
  auto same = f.import(ratings);
  EXPECT_EQ(catalog_changes(same.catalog), "");
  write_file(f.config.import.movies,
             "movieId,title,genres\n"
             "1,Toy Story (1995),Adventure|Animation|Children\n"  // new genres
             "4,\"11'09\"\"01 - September 11 (2002)\",Drama\n"
             "7,Sabrina (1995),Comedy|Romance\n"                      // new
             "193609,Andrew Dice Clay: Dice Rules (1991),Comedy\n");  // 11 is gone
  auto changed = f.import(ratings);
  EXPECT_EQ(changed.catalog.before, 4);
  EXPECT_EQ(changed.catalog.added, 1);
  EXPECT_EQ(changed.catalog.changed, 1);
  EXPECT_EQ(changed.catalog.removed, 1);
  EXPECT_EQ(catalog_changes(changed.catalog),
            " (1 added, 1 with a new title or genres, 1 removed)");
  EXPECT_EQ(test::sqlite(f.config.database, "SELECT movie_id, genres FROM movies ORDER BY 1;"),
            "1|Adventure|Animation|Children\n4|Drama\n7|Comedy|Romance\n193609|Comedy\n");
}

TEST(Import, FailedImportLeavesTheDatabaseUnchanged) {
  Fixture f;
  f.import(kHeader + "1,1,4,1\n1,11,3.5,2\n");
  std::string before = f.dump();
  EXPECT_NE(f.error(kHeader + "1,1,5,1\n2,4,1,1\n2,4,1,1\n"), "(no error)");
  EXPECT_EQ(f.dump(), before);
}

// A full export that would delete more than import.max_removed_share of the
// stored ratings (cut short, or the wrong file) is refused with the figures,
// and nothing changes; at the share exactly, or with the limit lifted, it
// imports.
TEST(Import, AnExportDeletingMoreThanTheAllowedShareIsRefusedAndChangesNothing) {
  Fixture f;
  std::string ten = kHeader;
  for (int u = 1; u <= 10; ++u) ten += std::to_string(u) + ",1,4," + std::to_string(u) + "\n";
  f.import(ten);
  const std::string before = f.dump();
  auto first = [&](int n) {
    std::string out = kHeader;
    for (int u = 1; u <= n; ++u) out += std::to_string(u) + ",1,4," + std::to_string(u) + "\n";
    return out + "11,4,3,11\n";  // and one new rating: deletions count, not the size
  };
  EXPECT_EQ(f.error(first(7)),
            f.config.import.ratings.string() +
                ": this export would delete 3 of the 10 stored ratings (30.0 %), more than "
                "import.max_removed_share (0.2) allows: is it cut short or the wrong file? "
                "Nothing was imported; the ratings and the published recommendations stay as "
                "they were. If the removal is meant, import it once with --set "
                "import.max_removed_share=1");
  EXPECT_EQ(f.dump(), before);
  f.config.import.max_removed_share = 0;  // no deletion at all allowed
  EXPECT_NE(f.error(first(9)), "(no error)");
  EXPECT_EQ(f.dump(), before);
  f.config.import.max_removed_share = 0.2;
  EXPECT_EQ(f.import(first(8)).deleted, 2);  // 20 %: allowed
  f.config.import.max_removed_share = 1;
  EXPECT_EQ(f.import(kHeader + "20,4,3,1\n").deleted, 9);  // a wholly new export, meant
}

TEST(Import, KeptRowsEqualTheTableOnAFirstImportOfManyChunks) {
  std::vector<std::string> rows = many_rows(50000);  // 200,000 rows, 4 chunks
  std::sort(rows.begin(), rows.end(), [](const std::string& a, const std::string& b) {
    const auto key = [](const std::string& r) {
      return std::make_pair(std::stoll(r.substr(0, r.find(','))),
                            std::stoll(r.substr(r.find(',') + 1)));
    };
    return key(a) < key(b);
  });
  Fixture f;
  f.config.import.rating_map = {{1, -1}, {2, -1}, {3, 0}, {4, 1}, {5, 1}};
  ImportedRows keep;
  keep.rated_at = true;
  f.import(csv_of(rows), &keep);
  EXPECT_EQ(keep.rows.size(), 200000u);
  f.expect_kept_rows_equal_the_table(keep);
}

TEST(Import, KeptRowsEqualTheTableAfterInsertsUpdatesAndDeletes) {
  Fixture f;
  f.config.import.max_removed_share = 0.5;  // two of four stored ratings deleted
  f.import(kHeader + "1,1,4,1\n1,11,3.5,2\n2,4,1,3\n5,4,2,7\n");
  ImportedRows keep;  // no timestamps asked for: none kept
  const auto s = f.import(kHeader + "1,1,5,9\n2,4,1,3\n3,4,4.5,5\n3,193609,2,4\n", &keep);
  EXPECT_EQ(s.inserted, 2);
  EXPECT_EQ(s.updated, 1);
  EXPECT_EQ(s.deleted, 2);
  EXPECT_TRUE(keep.rows.rated_at.empty());
  f.expect_kept_rows_equal_the_table(keep);
}

TEST(Import, AnUnsortedFileKeepsNoRows) {
  Fixture f;
  ImportedRows keep;
  f.import(kHeader + "2,4,1,3\n1,11,3.5,2\n1,1,4,1\n", &keep);
  EXPECT_FALSE(keep.kept);
  EXPECT_TRUE(keep.rows.user.empty());
  EXPECT_EQ(test::sqlite(f.config.database, "SELECT count(*) FROM ratings;"), "3\n");
}

}  // namespace
}  // namespace recs
