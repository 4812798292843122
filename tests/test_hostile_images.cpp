// SPDX-License-Identifier: MIT
// Hostile images through our loader (vision::decode_image / load_image): fuzzer reproducers, every
// truncation of small real files, a bit flip at every byte, non-files. The contract is the one of
// test_hostile_files.cpp: a yv9::Error naming the file, or a decoded image — never a crash, a
// sanitizer report, another exception, or a result that depends on uninitialised memory.
#include <yv9/vision/decode.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "support.hpp"

using namespace yv9;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// "ok WxH <pixel checksum>" or "error <message>"; anything else escapes and fails the test.
std::string outcome(const Bytes& b, const std::string& name) {
  try {
    const vision::Image im = vision::decode_image(b, name);
    std::uint64_t h = 1469598103934665603ull;
    for (std::uint8_t v : im.bgr) h = (h ^ v) * 1099511628211ull;
    return "ok " + std::to_string(im.width) + "x" + std::to_string(im.height) + " " + std::to_string(h);
  } catch (const Error& e) {
    return std::string("error ") + e.what();
  }
}

// Leaves freed heap blocks of stb's JPEG decoder size filled with `pattern`, so that a decoder
// reading memory it never wrote sees that pattern (glibc hands the block straight back; under
// ASan, whose quarantine prevents reuse, its own malloc fill plays the same role).
void dirty_heap(std::uint8_t pattern) {
  std::vector<void*> blocks;
  for (int i = 0; i < 8; ++i) {
    void* p = std::malloc(sizeof(stbi__jpeg));
    std::memset(p, pattern, sizeof(stbi__jpeg));
    blocks.push_back(p);
  }
  for (void* p : blocks) std::free(p);
}

}  // namespace

TEST_CASE("hostile images: a JPEG naming undefined Huffman tables decodes the same whatever the heap held") {
  // fuzz_image reproducer (tests/data/hostile/README.md): before stb got zeroed allocations the
  // result followed the heap's garbage, and some garbage made stb shift by 32 (UBSan abort).
  const Bytes b = slurp(yv9test::data_dir() + "/hostile/jpeg-undefined-huffman-table.jpg");
  dirty_heap(0x00);
  const std::string first = outcome(b, "huffman.jpg");
  for (std::uint8_t pattern : {0xff, 0xbe, 0x80, 0x01, 0x4d}) {
    CAPTURE(int(pattern));
    dirty_heap(pattern);
    CHECK(outcome(b, "huffman.jpg") == first);
  }
}

TEST_CASE("hostile images: every truncation of small real JPEG, PNG and BMP files is an error") {
  const std::vector<std::string> files = {
      yv9test::data_dir() + "/vision/numbered_8x4.jpg",
      yv9test::source_dir() + "/tests/fuzz/seeds/image/rgb8.png",
      yv9test::source_dir() + "/tests/fuzz/seeds/image/palette.png",
      yv9test::source_dir() + "/tests/fuzz/seeds/image/exif6.png",
      yv9test::source_dir() + "/tests/fuzz/seeds/image/rgb24.bmp",
  };
  for (const auto& f : files) {
    CAPTURE(f);
    const Bytes good = slurp(f);
    REQUIRE(outcome(good, "good").rfind("ok ", 0) == 0);
    int not_error = 0;
    for (std::size_t n = 0; n < good.size(); ++n) {
      const std::string o = outcome(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)), "cut.img");
      if (o.rfind("error ", 0) != 0 || o.find("cut.img") == std::string::npos) {
        ++not_error;
        MESSAGE("cut at " << n << ": " << o);
      }
    }
    CHECK(not_error == 0);
  }
}

TEST_CASE("hostile images: a bit flip at every byte fails cleanly or decodes") {
  for (const std::string& f : {yv9test::data_dir() + "/vision/numbered_8x4.jpg",
                              yv9test::source_dir() + "/tests/fuzz/seeds/image/gray16.png",
                              yv9test::source_dir() + "/tests/fuzz/seeds/image/rgb32.bmp"}) {
    CAPTURE(f);
    const Bytes good = slurp(f);
    for (std::size_t i = 0; i < good.size(); ++i)
      for (int bit : {0, 7}) {
        Bytes b = good;
        b[i] ^= static_cast<std::uint8_t>(1u << bit);
        (void)outcome(b, "flip.img");  // must return; a crash or another exception fails the test
      }
  }
}

TEST_CASE("hostile images: headers claiming huge sizes are refused before decoding") {
  // 7x5 PNG with IHDR rewritten to 100000 x 100000 (CRC fixed): a LimitError from the header.
  Bytes png = slurp(yv9test::source_dir() + "/tests/fuzz/seeds/image/rgb8.png");
  for (int k = 0; k < 2; ++k) {
    png[16 + 4 * k] = 0x00, png[17 + 4 * k] = 0x01, png[18 + 4 * k] = 0x86, png[19 + 4 * k] = 0xa0;
  }
  const std::uint32_t crc = vision::detail::crc32(png.data() + 12, 17);
  for (int k = 0; k < 4; ++k) png[29 + k] = static_cast<std::uint8_t>(crc >> (24 - 8 * k));
  const std::string o = outcome(png, "huge.png");
  CHECK(o.rfind("error ", 0) == 0);
  CHECK(o.find("huge.png") != std::string::npos);
}

TEST_CASE("hostile images: directories, empty and missing files") {
  const std::string dir = std::string(YV9_BINARY_DIR) + "/hostile-img-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0755);
  const std::string empty = dir + "/empty.jpg";
  std::ofstream(empty).close();
  for (const std::string& p : {dir, empty, dir + "/missing.png", std::string("/dev/null")}) {
    CAPTURE(p);
    try {
      vision::load_image(p);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(p) != std::string::npos);
    }
  }
  std::remove(empty.c_str());
  ::rmdir(dir.c_str());
}
