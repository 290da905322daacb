// Unit tests of the command-line parser (cli/args.h) on a small command tree
// shaped like the pipeline's.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cli/args.h"
#include "util/error.h"

namespace recs {
namespace {

using cli::Command;
using cli::Option;
using cli::Parsed;

struct Tree {
  Command app{"prog", "a test program"};
  bool quiet = false;
  Command& gen = app.add_subcommand("gen", "generate");
  std::int64_t users = 0;
  std::uint64_t seed = 42;
  double fraction = 0.5;
  std::string out;
  std::vector<std::string> sets;
  bool mask = false;
  std::string method = "exact";
  Command& predict = app.add_subcommand("predict", "predict");
  int user = 0, movie = 0;
  std::string pairs;
  Option* user_opt = nullptr;
  Command& bench = app.add_subcommand("bench", "benchmarks");
  Command& bench_score = bench.add_subcommand("score", "score bench");
  int threads = 0;

  Tree() {
    app.set_version_flag("--version", "prog 1.2.3");
    app.add_flag("-q,--quiet", quiet, "quiet");
    gen.add_option("--users", users, "number of users").required();
    gen.add_option("--seed", seed, "random seed").show_default();
    gen.add_option("--fraction", fraction, "a share").show_default();
    gen.add_option("--out", out, "output folder");
    gen.add_option("--set", sets, "override (repeatable)");
    gen.add_flag("--mask", mask, "mask");
    gen.add_option("--method", method, "kernel").choices({"exact", "ann"}).show_default();
    user_opt = &predict.add_option("--user", user, "user id");
    auto& movie_opt = predict.add_option("--movie", movie, "movie id");
    auto& pairs_opt = predict.add_option("--pairs", pairs, "pairs file");
    user_opt->needs(movie_opt);
    movie_opt.needs(*user_opt);
    pairs_opt.excludes(*user_opt).excludes(movie_opt);
    bench_score.add_option("--threads", threads, "threads").show_default();
  }

  Parsed parse(std::vector<std::string> args) { return app.parse(args); }

  // The UsageError message for `args`, or "" when they parse.
  std::string error(std::vector<std::string> args) {
    try {
      app.parse(args);
    } catch (const UsageError& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      return e.what();
    }
    return "";
  }
};

TEST(CliArgs, ValuesAreStoredInTheirTargets) {
  Tree t;
  Parsed p = t.parse({"-q", "gen", "--users", "12", "--seed", "7", "--fraction", "0.25", "--out",
                      "dir", "--mask", "--method", "ann"});
  EXPECT_FALSE(p.output);
  EXPECT_TRUE(p.selected(t.gen));
  EXPECT_FALSE(p.selected(t.predict));
  EXPECT_EQ(&p.command(), &t.gen);
  EXPECT_TRUE(t.quiet);
  EXPECT_EQ(t.users, 12);
  EXPECT_EQ(t.seed, 7u);
  EXPECT_DOUBLE_EQ(t.fraction, 0.25);
  EXPECT_EQ(t.out, "dir");
  EXPECT_TRUE(t.mask);
  EXPECT_EQ(t.method, "ann");
}

TEST(CliArgs, DefaultsStayWhenOptionsAreAbsent) {
  Tree t;
  t.parse({"gen", "--users", "-3"});  // a negative number is a value, not an option
  EXPECT_EQ(t.users, -3);
  EXPECT_EQ(t.seed, 42u);
  EXPECT_DOUBLE_EQ(t.fraction, 0.5);
  EXPECT_FALSE(t.mask);
  EXPECT_FALSE(t.quiet);
  EXPECT_EQ(t.method, "exact");
}

TEST(CliArgs, EqualsForm) {
  Tree t;
  t.parse({"gen", "--users=5", "--out=a=b", "--set=x.y=1", "--mask=false", "--fraction=1e-2"});
  EXPECT_EQ(t.users, 5);
  EXPECT_EQ(t.out, "a=b");
  EXPECT_EQ(t.sets, std::vector<std::string>{"x.y=1"});
  EXPECT_FALSE(t.mask);
  EXPECT_DOUBLE_EQ(t.fraction, 0.01);
}

TEST(CliArgs, RepeatableOptionAppendsEachOccurrence) {
  Tree t;
  t.parse({"gen", "--users", "1", "--set", "a=1", "--set=b=2", "--set", "c=3"});
  EXPECT_EQ(t.sets, (std::vector<std::string>{"a=1", "b=2", "c=3"}));
  // One value per occurrence: a second word is not swallowed.
  EXPECT_EQ(t.error({"gen", "--users", "1", "--set", "a=1", "b=2"}),
            "unexpected argument: b=2 (see prog --help)");
}

TEST(CliArgs, NonRepeatableOptionGivenTwiceIsAnError) {
  Tree t;
  EXPECT_EQ(t.error({"gen", "--users", "1", "--users", "2"}),
            "--users: given more than once (see prog --help)");
}

TEST(CliArgs, RequiredOptionMissing) {
  Tree t;
  EXPECT_EQ(t.error({"gen", "--seed", "1"}), "--users is required (see prog --help)");
}

TEST(CliArgs, MissingValue) {
  Tree t;
  EXPECT_EQ(t.error({"gen", "--users"}), "--users: missing value (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "1", "--out", "--mask"}),
            "--out: missing value (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users="}), "--users: missing value (see prog --help)");
}

TEST(CliArgs, UnknownOptionAndArgument) {
  Tree t;
  EXPECT_EQ(t.error({"gen", "--users", "1", "--bogus"}),
            "unknown option --bogus for 'gen' (see prog --help)");
  EXPECT_EQ(t.error({"--bogus", "gen"}), "unknown option --bogus (see prog --help)");
  // Options belong to the command they are declared on.
  EXPECT_EQ(t.error({"gen", "-q", "--users", "1"}),
            "unknown option -q for 'gen' (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "1", "extra"}),
            "unexpected argument: extra (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "1", "--"}), "unexpected argument: -- (see prog --help)");
}

TEST(CliArgs, NumbersAreParsedStrictly) {
  Tree t;
  EXPECT_EQ(t.error({"gen", "--users", "abc"}),
            "--users: expected an integer, got 'abc' (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "5x"}),
            "--users: expected an integer, got '5x' (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "1.5"}),
            "--users: expected an integer, got '1.5' (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "0x10"}),
            "--users: expected an integer, got '0x10' (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "99999999999999999999"}),
            "--users: 99999999999999999999 is out of range (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "1", "--seed", "-1"}),
            "--seed: expected a non-negative integer, got '-1' (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "1", "--fraction", "0.5.1"}),
            "--fraction: expected a number, got '0.5.1' (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "1", "--fraction", "nan"}),
            "--fraction: expected a number, got 'nan' (see prog --help)");
  EXPECT_EQ(t.error({"bench", "score", "--threads", "2147483648"}),
            "--threads: 2147483648 is out of range (see prog --help)");
  EXPECT_EQ(t.error({"bench", "score", "--threads", " 4"}),
            "--threads: expected an integer, got ' 4' (see prog --help)");
  t.parse({"bench", "score", "--threads", "-2147483648"});
  EXPECT_EQ(t.threads, -2147483648LL);
}

TEST(CliArgs, ChoicesAndFlagValues) {
  Tree t;
  EXPECT_EQ(t.error({"gen", "--users", "1", "--method", "fast"}),
            "--method: fast not in {exact,ann} (see prog --help)");
  EXPECT_EQ(t.error({"gen", "--users", "1", "--mask=maybe"}),
            "--mask: expected true or false, got 'maybe' (see prog --help)");
}

TEST(CliArgs, NeedsAndExcludes) {
  Tree t;
  Parsed p = t.parse({"predict", "--user", "3", "--movie", "4"});
  EXPECT_TRUE(p.has(*t.user_opt));
  EXPECT_EQ(t.user, 3);
  EXPECT_EQ(t.movie, 4);
  Tree u;
  Parsed pairs = u.parse({"predict", "--pairs", "p.csv"});
  EXPECT_FALSE(pairs.has(*u.user_opt));
  EXPECT_EQ(u.pairs, "p.csv");
  EXPECT_EQ(t.error({"predict", "--user", "1"}), "--user requires --movie (see prog --help)");
  EXPECT_EQ(t.error({"predict", "--movie", "1"}), "--movie requires --user (see prog --help)");
  EXPECT_EQ(t.error({"predict", "--pairs", "p", "--user", "1", "--movie", "2"}),
            "--user excludes --pairs (see prog --help)");
  EXPECT_EQ(t.error({"predict", "--pairs", "p", "--movie", "2"}),
            "--movie requires --user (see prog --help)");
}

TEST(CliArgs, NestedSubcommands) {
  Tree t;
  Parsed p = t.parse({"bench", "score", "--threads=3"});
  EXPECT_TRUE(p.selected(t.bench));
  EXPECT_TRUE(p.selected(t.bench_score));
  EXPECT_EQ(&p.command(), &t.bench_score);
  EXPECT_EQ(t.threads, 3);
  EXPECT_EQ(t.error({"bench"}), "missing subcommand after 'bench': one of score (see prog --help)");
  EXPECT_EQ(t.error({"bench", "nope"}), "unknown subcommand: nope (see prog --help)");
  EXPECT_EQ(t.error({}), "missing subcommand: one of gen, predict, bench (see prog --help)");
  EXPECT_EQ(t.error({"-q"}), "missing subcommand: one of gen, predict, bench (see prog --help)");
  EXPECT_EQ(t.error({"nope"}), "unknown subcommand: nope (see prog --help)");
  EXPECT_EQ(t.error({"gen", "predict"}), "unexpected argument: predict (see prog --help)");
}

TEST(CliArgs, HelpIsRequestedAndWinsOverErrors) {
  Tree t;
  Parsed root = t.parse({"--help"});
  ASSERT_TRUE(root.output);
  EXPECT_EQ(*root.output, t.app.help());
  EXPECT_EQ(*root.output,
            "a test program\n"
            "Usage: prog [OPTIONS] SUBCOMMAND\n"
            "\n"
            "Options:\n"
            "  -h,--help                   Print this help message and exit\n"
            "  --version                   Display program version information and exit\n"
            "  -q,--quiet                  quiet\n"
            "\n"
            "Subcommands:\n"
            "  gen                         generate\n"
            "  predict                     predict\n"
            "  bench                       benchmarks\n"
            "\n");
  // The deepest command named gets the help, even with -h before it or
  // with errors around it.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"gen", "-h"}, {"-h", "gen"}, {"gen", "--bogus", "--help"}, {"gen", "--users", "-h"}}) {
    Parsed p = Tree().parse(args);
    ASSERT_TRUE(p.output) << args[1];
    EXPECT_EQ(*p.output, t.gen.help());
  }
  EXPECT_EQ(t.gen.help(),
            "generate\n"
            "Usage: prog gen [OPTIONS]\n"
            "\n"
            "Options:\n"
            "  -h,--help                   Print this help message and exit\n"
            "  --users INT REQUIRED        number of users\n"
            "  --seed UINT=42              random seed\n"
            "  --fraction FLOAT=0.5        a share\n"
            "  --out TEXT                  output folder\n"
            "  --set TEXT                  override (repeatable)\n"
            "  --mask                      mask\n"
            "  --method TEXT:{exact,ann}=exact\n"
            "                              kernel\n"
            "\n");
  EXPECT_NE(t.predict.help().find("--user INT Needs: --movie Excludes: --pairs\n"),
            std::string::npos);
  EXPECT_NE(t.predict.help().find("--pairs TEXT Excludes: --user --movie\n"), std::string::npos);
  Parsed nested = t.parse({"bench", "score", "--help"});
  ASSERT_TRUE(nested.output);
  EXPECT_NE(nested.output->find("Usage: prog bench score [OPTIONS]\n"), std::string::npos);
  EXPECT_NE(nested.output->find("--threads INT=0"), std::string::npos);
}

TEST(CliArgs, Version) {
  Tree t;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--version"}, {"-q", "--version"}, {"--version", "gen"}}) {
    Parsed p = Tree().parse(args);
    ASSERT_TRUE(p.output);
    EXPECT_EQ(*p.output, "prog 1.2.3\n");
  }
  // Only at the top level.
  EXPECT_EQ(t.error({"gen", "--users", "1", "--version"}),
            "unknown option --version for 'gen' (see prog --help)");
}

TEST(CliArgs, ArgvSkipsTheProgramName) {
  Tree t;
  const char* argv[] = {"prog", "gen", "--users", "8"};
  Parsed p = t.app.parse(4, argv);
  EXPECT_TRUE(p.selected(t.gen));
  EXPECT_EQ(t.users, 8);
}

}  // namespace
}  // namespace recs
