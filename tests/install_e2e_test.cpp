// Installing: `cmake --install` of the build this suite runs from puts every
// file under the prefix (DESTDIR and --prefix move them all), the systemd
// units pass `systemd-analyze verify`, and the Debian package CPack builds
// holds the same files. systemd-analyze, cpack and dpkg-deb must be
// installed (README "tests" command): a missing one fails the test.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>

#include "test_util.h"

namespace recs::test {
namespace {

namespace fs = std::filesystem;

fs::path binary_dir() { return RECS_BINARY_DIR; }

// Every file below `root`, as paths relative to it.
std::set<std::string> files_below(const fs::path& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_directory()) out.insert(fs::relative(e.path(), root).string());
  }
  return out;
}

// What an install holds, relative to the prefix (etc/ is /etc for /usr).
std::set<std::string> expected_files(const std::string& etc) {
  std::set<std::string> out = {"bin/pipeline",
                               etc + "/recs/recs.yaml",
                               etc + "/logrotate.d/recs",
                               "lib/systemd/system/recs.service",
                               "lib/systemd/system/recs.timer",
                               "lib/sysusers.d/recs.conf"};
  for (const auto& e : fs::recursive_directory_iterator(source_dir() / "sql")) {
    if (!e.is_directory())
      out.insert("share/recs/sql/" + fs::relative(e.path(), source_dir() / "sql").string());
  }
  return out;
}

CommandResult install(const fs::path& destdir, const std::string& prefix) {
  const std::string env = destdir.empty() ? "" : "DESTDIR=" + quoted(destdir) + " ";
  return run_command(env + "cmake --install " + quoted(binary_dir()) + " --prefix " +
                     quoted(fs::path(prefix)));
}

TEST(Install, EverythingGoesUnderThePrefixAndDestdir) {
  TempDir tmp;
  for (const std::string prefix : {"/opt/recs", "/srv/elsewhere"}) {
    const fs::path stage = tmp / ("stage" + std::to_string(prefix.size()));
    auto r = install(stage, prefix);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    // Nothing outside DESTDIR/prefix.
    EXPECT_EQ(files_below(stage), [&] {
      std::set<std::string> s;
      for (const auto& f : expected_files("etc")) s.insert(prefix.substr(1) + "/" + f);
      return s;
    }());
    const fs::path root = stage / prefix.substr(1);
    const std::string service = read_file(root / "lib/systemd/system/recs.service");
    EXPECT_NE(service.find("\nExecStart=" + prefix + "/bin/pipeline run --config " + prefix +
                           "/etc/recs/recs.yaml\n"),
              std::string::npos)
        << service;
    for (const std::string line : {"\nUser=recs\n", "\nGroup=recs\n", "\nUMask=0027\n",
                                   "\nStateDirectory=recs\n", "\nType=oneshot\n"}) {
      EXPECT_NE(service.find(line), std::string::npos) << line;
    }
    EXPECT_EQ(read_file(root / "etc/recs/recs.yaml"), read_file(source_dir() / "config/prod.yaml"));
    EXPECT_EQ(read_file(root / "share/recs/sql/login.sql"),
              read_file(source_dir() / "sql/login.sql"));
    EXPECT_NE(read_file(root / "lib/sysusers.d/recs.conf").find("u recs "), std::string::npos);
    EXPECT_NE(read_file(root / "etc/logrotate.d/recs").find("/var/log/recs/*.log"),
              std::string::npos);
    EXPECT_NE(read_file(root / "lib/systemd/system/recs.timer").find("\nUnit=recs.service\n"),
              std::string::npos);
    auto version = run_command(quoted(root / "bin/pipeline") + " --version");
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_TRUE(version.out.starts_with("pipeline ")) << version.out;
  }
}

TEST(Install, SystemdAnalyzeVerifiesTheUnits) {
  TempDir tmp;
  // A real prefix (no DESTDIR), so the ExecStart= binary exists where the
  // unit says.
  const fs::path prefix = tmp / "prefix";
  ASSERT_EQ(install({}, prefix.string()).exit_code, 0);
  const fs::path units = prefix / "lib/systemd/system";
  auto r = run_command("systemd-analyze verify " + quoted(units / "recs.service") + " " +
                       quoted(units / "recs.timer"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
  // The check can fail: a unit whose binary is missing does not verify.
  fs::create_directories(tmp / "broken");
  std::string service = read_file(units / "recs.service");
  service.replace(service.find("/bin/pipeline"), 13, "/bin/missing-pipeline");
  write_file(tmp / "broken/recs.service", service);
  EXPECT_NE(run_command("systemd-analyze verify " + quoted(tmp / "broken/recs.service")).exit_code,
            0);
}

TEST(Install, DebianPackageHoldsTheSameFiles) {
  TempDir tmp;
  auto r = run_command("cpack --config " + quoted(binary_dir() / "CPackConfig.cmake") + " -B " +
                       quoted(tmp / "pkg"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  fs::path deb;
  for (const auto& e : fs::directory_iterator(tmp / "pkg")) {
    if (e.path().extension() == ".deb") deb = e.path();
  }
  ASSERT_FALSE(deb.empty()) << r.out;
  auto contents = run_command("dpkg-deb -c " + quoted(deb));
  ASSERT_EQ(contents.exit_code, 0) << contents.err;
  std::set<std::string> in_deb;
  std::istringstream lines(contents.out);
  for (std::string line; std::getline(lines, line);) {
    const std::string path = line.substr(line.rfind(' ') + 1);  // "./usr/bin/pipeline"
    if (!path.ends_with("/")) in_deb.insert(path.substr(2));
  }
  // The package is the install with the prefix /usr: configuration in /etc.
  std::set<std::string> expected;
  for (const auto& f : expected_files("../etc")) {
    expected.insert(fs::path("usr/" + f).lexically_normal().string());
  }
  EXPECT_EQ(in_deb, expected);
  auto stage = tmp / "usr-install";
  ASSERT_EQ(install(stage, "/usr").exit_code, 0);
  EXPECT_EQ(files_below(stage), in_deb);  // the same files as cmake --install

  auto info = run_command("dpkg-deb -I " + quoted(deb));
  EXPECT_NE(info.out.find("Package: recs"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("libsqlite3"), std::string::npos) << info.out;  // from shlibdeps
  EXPECT_NE(info.out.find(" postinst "), std::string::npos) << info.out;
  EXPECT_EQ(run_command("dpkg-deb -I " + quoted(deb) + " conffiles").out,
            "/etc/recs/recs.yaml\n/etc/logrotate.d/recs\n");
  EXPECT_NE(run_command("dpkg-deb -I " + quoted(deb) + " postinst").out.find("systemd-sysusers"),
            std::string::npos);
  auto unpacked = tmp / "unpacked";
  ASSERT_EQ(run_command("dpkg-deb -x " + quoted(deb) + " " + quoted(unpacked)).exit_code, 0);
  EXPECT_NE(read_file(unpacked / "usr/lib/systemd/system/recs.service")
                .find("\nExecStart=/usr/bin/pipeline run --config /etc/recs/recs.yaml\n"),
            std::string::npos);
}

}  // namespace
}  // namespace recs::test
