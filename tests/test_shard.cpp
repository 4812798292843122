// SPDX-License-Identifier: MIT
// The scale-out recipe of the README, run as written: GNU parallel starts `detect --shard K/2`
// for K = 1, 2; their --jsonl output, concatenated and sorted, equals one process's output over
// the whole folder (timings cut off: they are the only field that differs from run to run).
// Skips (ctest: Skipped) where GNU parallel is not installed.
#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"

namespace fs = std::filesystem;
using yv9test::sh_quote;

namespace {

// The JSON lines without their "timings" member (the last one), sorted.
std::vector<std::string> sorted_records(const std::string& jsonl) {
  std::vector<std::string> out;
  std::istringstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    const std::size_t t = line.find(", \"timings\": ");
    REQUIRE_MESSAGE(t != std::string::npos, line);
    out.push_back(line.substr(0, t));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("shard: two shards under GNU parallel, concatenated and sorted, equal the single run") {
  if (!yv9test::on_path("parallel")) {
    yv9test::skip("GNU parallel not installed (Debian package `parallel`, tools/setup-debian.sh): the shard recipe test did NOT run");
    return;
  }
  const std::string d = yv9test::fresh_dir("shard"), src = d + "/images";
  fs::create_directories(src);
  // 7 images (odd, so the shards differ in size): the samples under several names
  for (int i = 0; i < 7; ++i)
    fs::copy_file(yv9test::source_dir() + "/weights/samples/samples_0000" + std::to_string(i % 4) + ".png",
                  src + "/img" + std::to_string(i) + ".png");
  const std::string detect = yv9test::tool_command("detect") + " --weights " +
                             sh_quote(yv9test::source_dir() + "/weights/gelan-t-mmqa-shapes.bin") + " --source " + sh_quote(src) +
                             " --nosave --threads 1 --jsonl";
  yv9test::Run single = yv9test::run_shell(detect + " --out " + sh_quote(d + "/single"), d);
  REQUIRE(single.code == 0);
  // the README's recipe; {} is parallel's argument (1, 2), -k keeps its order (not needed: we sort)
  yv9test::Run sharded = yv9test::run_shell(
      "parallel -j2 " + detect + " --out " + sh_quote(d + "/shard") + "{} --shard {}/2 ::: 1 2", d);
  CAPTURE(sharded.err);
  REQUIRE(sharded.code == 0);
  const std::vector<std::string> one = sorted_records(single.out), two = sorted_records(sharded.out);
  CHECK(one.size() == 7);
  CHECK(one == two);
  // each shard did its part: 4 + 3 images (round robin over the sorted names)
  yv9test::Run s1 = yv9test::run_shell(detect + " --out " + sh_quote(d + "/s1") + " --shard 1/2", d);
  yv9test::Run s2 = yv9test::run_shell(detect + " --out " + sh_quote(d + "/s2") + " --shard 2/2", d);
  CHECK(yv9test::count_lines(s1.out) == 4);
  CHECK(yv9test::count_lines(s2.out) == 3);
}
