// SPDX-License-Identifier: MIT
// Decoding untrusted images: cv2.imread-compatible pixels (gray/alpha/16-bit/palette PNG, EXIF
// orientation as cv2 applies it) and one clear error for every broken file.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support.hpp"
#include "yv9/vision/decode.hpp"
#include "yv9/vision/output.hpp"

namespace fs = std::filesystem;
using namespace yv9;
using namespace yv9::vision;
using Bytes = std::vector<std::uint8_t>;

namespace {

// ---- a tiny PNG writer (stored deflate blocks), so tests can make any PNG variant ----------
void put32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
void chunk(Bytes& png, const char* type, const Bytes& data) {
  put32(png, static_cast<std::uint32_t>(data.size()));
  Bytes td(type, type + 4);
  td.insert(td.end(), data.begin(), data.end());
  png.insert(png.end(), td.begin(), td.end());
  put32(png, yv9::vision::detail::crc32(td.data(), td.size()));
}
Bytes zlib_stored(const Bytes& raw) {
  Bytes z = {0x78, 0x01};
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(65535, raw.size() - pos);
    z.push_back(pos + n == raw.size() ? 1 : 0);
    z.push_back(n & 0xFF), z.push_back(n >> 8 & 0xFF), z.push_back(~n & 0xFF), z.push_back(~n >> 8 & 0xFF);
    z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(pos), raw.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  } while (pos < raw.size());
  std::uint32_t a = 1, b = 0;
  for (std::uint8_t c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  put32(z, b << 16 | a);
  return z;
}
// rows: already packed samples per row (filter byte 0 is added here).
Bytes make_png(int w, int h, int color_type, int depth, const std::vector<Bytes>& rows, const Bytes& plte = {},
               const Bytes& trns = {}, const Bytes& exif = {}) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  put32(ihdr, static_cast<std::uint32_t>(w)), put32(ihdr, static_cast<std::uint32_t>(h));
  ihdr.insert(ihdr.end(), {static_cast<std::uint8_t>(depth), static_cast<std::uint8_t>(color_type), 0, 0, 0});
  chunk(png, "IHDR", ihdr);
  if (!exif.empty()) chunk(png, "eXIf", exif);
  if (!plte.empty()) chunk(png, "PLTE", plte);
  if (!trns.empty()) chunk(png, "tRNS", trns);
  Bytes raw;
  for (const Bytes& r : rows) {
    raw.push_back(0);
    raw.insert(raw.end(), r.begin(), r.end());
  }
  chunk(png, "IDAT", zlib_stored(raw));
  chunk(png, "IEND", {});
  return png;
}

// TIFF block with one IFD0 entry: orientation (big endian "MM" or little endian "II").
Bytes tiff_orientation(int orientation, bool little = false) {
  Bytes t;
  auto u16 = [&](std::uint16_t v) {
    if (little) t.push_back(v & 0xFF), t.push_back(v >> 8);
    else t.push_back(v >> 8), t.push_back(v & 0xFF);
  };
  auto u32 = [&](std::uint32_t v) {
    if (little) for (int s = 0; s < 32; s += 8) t.push_back(static_cast<std::uint8_t>(v >> s));
    else for (int s = 24; s >= 0; s -= 8) t.push_back(static_cast<std::uint8_t>(v >> s));
  };
  t.push_back(little ? 'I' : 'M'), t.push_back(little ? 'I' : 'M');
  u16(42), u32(8), u16(1);
  u16(0x0112), u16(3), u32(1), u16(static_cast<std::uint16_t>(orientation)), u16(0);
  u32(0);
  return t;
}

// Committed test JPEGs (tests/data/vision/README.md): numbered(w, h) encoded by stb at quality 95.
// Files rather than encoding on the fly: stb's JPEG *writer* trips UBSan (signed shifts), and the
// decoder tests should not depend on our encoder anyway.
Bytes test_jpeg(int w, int h) {
  const std::string path =
      std::string(YV9_SOURCE_DIR) + "/tests/data/vision/numbered_" + std::to_string(w) + "x" + std::to_string(h) + ".jpg";
  return yv9::io::read_file_bytes(path, 1u << 20);
}

// A small JPEG with an APP1 segment inserted after SOI.
Bytes jpeg_with_app1(int w, int h, const Bytes& app1_payload) {
  Bytes j = test_jpeg(w, h);
  if (app1_payload.empty()) return j;
  Bytes seg = {0xFF, 0xE1};
  const std::size_t len = app1_payload.size() + 2;
  seg.push_back(static_cast<std::uint8_t>(len >> 8)), seg.push_back(len & 0xFF);
  seg.insert(seg.end(), app1_payload.begin(), app1_payload.end());
  j.insert(j.begin() + 2, seg.begin(), seg.end());
  return j;
}
Bytes exif_app1(const Bytes& tiff) {
  Bytes p(6 + tiff.size(), 0);  // "Exif\0\0" + TIFF (built by copy: GCC 12 -Warray-bounds misfires on insert)
  std::memcpy(p.data(), "Exif", 4);
  std::copy(tiff.begin(), tiff.end(), p.begin() + 6);
  return p;
}

// 3 x 2 test picture with distinct pixels: value = 10 * (y * 3 + x) + channel.
Image numbered(int w = 3, int h = 2) {
  Image im(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) im.px(x, y)[c] = static_cast<std::uint8_t>(10 * (y * w + x) + c);
  return im;
}

template <class E>
std::string error_of(const Bytes& b, const std::string& name, const ImageLimits& lim = {}) {
  try {
    decode_image(b, name, lim);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return "NO EXCEPTION";
}

std::string preprocess_dir() { return yv9test::fixtures_dir() + "/preprocess"; }

}  // namespace

TEST_CASE("PNG colour types decode like cv2.imread IMREAD_COLOR") {
  // gray 8-bit -> replicated
  Image g = decode_image(make_png(2, 1, 0, 8, {{7, 200}}), "gray.png");
  CHECK(g.bgr == Bytes{7, 7, 7, 200, 200, 200});
  // gray 1-bit -> 0 / 255
  g = decode_image(make_png(3, 1, 0, 1, {{0b10100000}}), "bits.png");
  CHECK(g.bgr == Bytes{255, 255, 255, 0, 0, 0, 255, 255, 255});
  // gray + alpha -> alpha dropped
  g = decode_image(make_png(1, 1, 4, 8, {{90, 3}}), "ga.png");
  CHECK(g.bgr == Bytes{90, 90, 90});
  // RGB -> BGR
  g = decode_image(make_png(1, 1, 2, 8, {{1, 2, 3}}), "rgb.png");
  CHECK(g.bgr == Bytes{3, 2, 1});
  // RGBA -> alpha ignored (not composited), even when fully transparent
  g = decode_image(make_png(2, 1, 6, 8, {{10, 20, 30, 0, 40, 50, 60, 128}}), "rgba.png");
  CHECK(g.bgr == Bytes{30, 20, 10, 60, 50, 40});
  // 16-bit RGB -> high byte (v >> 8)
  g = decode_image(make_png(1, 1, 2, 16, {{0x12, 0xFF, 0x34, 0x80, 0xFF, 0x01}}), "rgb16.png");
  CHECK(g.bgr == Bytes{0xFF, 0x34, 0x12});
  // 16-bit gray
  g = decode_image(make_png(1, 1, 0, 16, {{0xAB, 0xCD}}), "gray16.png");
  CHECK(g.bgr == Bytes{0xAB, 0xAB, 0xAB});
  // palette with tRNS -> colours, transparency dropped
  g = decode_image(make_png(2, 1, 3, 8, {{1, 0}}, {1, 2, 3, 4, 5, 6}, {0, 0}), "pal.png");
  CHECK(g.bgr == Bytes{6, 5, 4, 3, 2, 1});
}

TEST_CASE("apply_exif_orientation matches cv2's ExifTransform for all 8 values") {
  // Expected layouts (pixel ids 0..5 of a 3x2 image, row-major), worked out from cv2's
  // flip/transpose sequence for each orientation.
  const std::vector<std::vector<int>> expected = {
      {0, 1, 2, 3, 4, 5},  // 1: as is (3x2)
      {2, 1, 0, 5, 4, 3},  // 2: flip x
      {5, 4, 3, 2, 1, 0},  // 3: flip x and y
      {3, 4, 5, 0, 1, 2},  // 4: flip y
      {0, 3, 1, 4, 2, 5},  // 5: transpose (2x3)
      {3, 0, 4, 1, 5, 2},  // 6: transpose + flip x (90 deg clockwise)
      {5, 2, 4, 1, 3, 0},  // 7: transpose + flip x and y
      {2, 5, 1, 4, 0, 3},  // 8: transpose + flip y (90 deg counter-clockwise)
  };
  for (int o = 1; o <= 8; ++o) {
    Image im = numbered();
    apply_exif_orientation(im, o);
    INFO("orientation " << o);
    CHECK(im.width == (o >= 5 ? 2 : 3));
    CHECK(im.height == (o >= 5 ? 3 : 2));
    for (int i = 0; i < 6; ++i) CHECK(im.bgr[3 * i] == 10 * expected[o - 1][i]);
  }
  Image im = numbered();
  apply_exif_orientation(im, 9);  // out of range: untouched, like cv2
  CHECK(im.bgr == numbered().bgr);
}

TEST_CASE("EXIF orientation is read where and how cv2 reads it") {
  const Image base = numbered(8, 4);
  SUBCASE("PNG eXIf chunk, big and little endian") {
    for (bool little : {false, true}) {
      std::vector<Bytes> rows;
      for (int y = 0; y < 4; ++y) {
        Bytes r;
        for (int x = 0; x < 8; ++x) r.push_back(base.px(x, y)[2]), r.push_back(base.px(x, y)[1]), r.push_back(base.px(x, y)[0]);
        rows.push_back(r);
      }
      Image got = decode_image(make_png(8, 4, 2, 8, rows, {}, {}, tiff_orientation(6, little)), "o6.png");
      Image want = base;
      apply_exif_orientation(want, 6);
      CHECK(got.width == 4);
      CHECK(got.bgr == want.bgr);
    }
  }
  SUBCASE("JPEG APP1: orientation applied; a leading non-EXIF APP1 hides a later EXIF one") {
    const Image plain = decode_image(jpeg_with_app1(8, 4, {}), "plain.jpg");
    for (int o : {2, 3, 6, 8}) {
      Image want = plain;
      apply_exif_orientation(want, o);
      const Image got = decode_image(jpeg_with_app1(8, 4, exif_app1(tiff_orientation(o))), "o.jpg");
      CHECK(got.bgr == want.bgr);
    }
    // XMP first, EXIF second: cv2 only looks at the first APP1 -> no rotation.
    Bytes j = jpeg_with_app1(8, 4, exif_app1(tiff_orientation(6)));
    const std::string xmp = "http://ns.adobe.com/xap/1.0/";
    Bytes seg = {0xFF, 0xE1, 0, static_cast<std::uint8_t>(xmp.size() + 2)};
    seg.insert(seg.end(), xmp.begin(), xmp.end());
    j.insert(j.begin() + 2, seg.begin(), seg.end());
    CHECK(decode_image(j, "xmp_first.jpg").bgr == plain.bgr);
  }
  SUBCASE("cv2's ExifReader quirks") {
    // An out-of-bounds string value (Make) before the orientation aborts the parse: no rotation.
    Bytes t = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 2,
               0x01, 0x0F, 0, 2, 0, 0, 0, 100, 0, 0, 0x10, 0,  // Make: 100 bytes at 0x1000
               0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0};
    CHECK(exif_orientation_from_tiff(t.data(), t.size()) == 0);
    // Same entries in the other order: the orientation was read before the failure and counts.
    Bytes t2 = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 2,
                0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0,
                0x01, 0x0F, 0, 2, 0, 0, 0, 100, 0, 0, 0x10, 0, 0, 0, 0, 0};
    CHECK(exif_orientation_from_tiff(t2.data(), t2.size()) == 6);
    // Bad magic, truncated blocks, absurd IFD offsets: never a crash, no orientation.
    Bytes bad = tiff_orientation(6);
    bad[3] = 43;
    CHECK(exif_orientation_from_tiff(bad.data(), bad.size()) == 0);
    const Bytes good = tiff_orientation(6);
    for (std::size_t n = 0; n < good.size(); ++n) CHECK(exif_orientation_from_tiff(good.data(), n) <= 6);
    Bytes far = tiff_orientation(6);
    far[4] = 0xFF, far[5] = 0xFF, far[6] = 0xFF, far[7] = 0xF0;
    CHECK(exif_orientation_from_tiff(far.data(), far.size()) == 0);
    // A "XX" byte-order marker is read as big endian by cv2.
    Bytes xx = tiff_orientation(3);
    xx[0] = xx[1] = 'X';
    CHECK(exif_orientation_from_tiff(xx.data(), xx.size()) == 3);
  }
}

TEST_CASE("broken files give one clear error naming the file") {
  const Image small = numbered(16, 8);
  const Bytes png = encode_image(small, ".png");
  const Bytes jpg = test_jpeg(16, 8);

  CHECK(error_of<FormatError>({}, "empty.png").find("empty.png: empty file") == 0);
  CHECK(error_of<FormatError>({'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}, "text.jpg")
            .find("text.jpg: not a JPEG, PNG or BMP image") == 0);

  for (std::size_t cut : {std::size_t(9), std::size_t(30), png.size() / 2, png.size() - 1}) {
    const Bytes t(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(cut));
    const std::string e = error_of<FormatError>(t, "cut.png");
    INFO(e);
    CHECK(e.find("cut.png: PNG") == 0);
  }
  for (std::size_t cut : {std::size_t(3), std::size_t(40), jpg.size() / 2, jpg.size() - 2}) {
    const Bytes t(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(cut));
    const std::string e = error_of<FormatError>(t, "cut.jpg");
    INFO(e);
    CHECK(e.find("cut.jpg: JPEG") == 0);
  }
  {  // a flipped bit inside IDAT: CRC error
    Bytes c = png;
    c[c.size() - 20] ^= 0x10;
    CHECK(error_of<FormatError>(c, "crc.png").find("crc.png: PNG corrupt (CRC error in chunk IDAT)") == 0);
  }
  {  // zero width in IHDR
    Bytes z = make_png(0, 1, 2, 8, {{}});
    CHECK(error_of<FormatError>(z, "zero.png").find("zero.png:") == 0);
  }
  {  // huge dimensions in the header, refused before any allocation
    const Bytes huge = make_png(100000, 100000, 0, 8, {{0}});
    const std::string e = error_of<LimitError>(huge, "huge.png");
    INFO(e);
    CHECK(e.find("huge.png: image 100000x100000 exceeds the limit") == 0);
    Bytes hj = jpg;  // patch the SOF0 size fields to 60000 x 60000
    for (std::size_t i = 2; i + 9 < hj.size(); ++i)
      if (hj[i] == 0xFF && hj[i + 1] == 0xC0) {
        hj[i + 5] = 0xEA, hj[i + 6] = 0x60, hj[i + 7] = 0xEA, hj[i + 8] = 0x60;
        break;
      }
    CHECK(error_of<LimitError>(hj, "huge.jpg").find("huge.jpg: image 60000x60000 exceeds the limit") == 0);
    ImageLimits tight;
    tight.max_pixels = 100;
    CHECK(error_of<LimitError>(png, "tight.png", tight).find("tight.png: image 16x8 exceeds") == 0);
  }
  {  // garbage after a valid signature
    Bytes g = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10};
    g.resize(200, 0x55);
    CHECK(error_of<FormatError>(g, "garbage.jpg").find("garbage.jpg: JPEG") == 0);
    Bytes b = {'B', 'M'};
    b.resize(60, 0);
    CHECK(error_of<FormatError>(b, "garbage.bmp").find("garbage.bmp:") == 0);
  }
  {  // BMP round trip, then truncated
    Bytes bmp;
    stbi_write_bmp_to_func(yv9::vision::detail::append_bytes, &bmp, 16, 8, 3, [&] {
      static Bytes rgb;
      rgb.resize(small.bgr.size());
      for (std::size_t i = 0; i < rgb.size(); i += 3) rgb[i] = small.bgr[i + 2], rgb[i + 1] = small.bgr[i + 1], rgb[i + 2] = small.bgr[i];
      return rgb.data();
    }());
    CHECK(decode_image(bmp, "ok.bmp").bgr == small.bgr);
    bmp.resize(bmp.size() - 10);
    CHECK(error_of<FormatError>(bmp, "cut.bmp").find("cut.bmp: BMP truncated") == 0);
  }
  CHECK_THROWS_AS(load_image("/nonexistent/dir/x.jpg"), IoError);
  CHECK_THROWS_WITH_AS(load_image(YV9_SOURCE_DIR), (std::string(YV9_SOURCE_DIR) + ": is a directory, not an image file").c_str(),
                       IoError);
}

TEST_CASE("fuzz-ish: every prefix and many bit flips of a PNG and a JPEG never crash") {
  const Image small = numbered(12, 7);
  for (const Bytes& good : {encode_image(small, ".png"), test_jpeg(12, 7)}) {
    int errors = 0;
    for (std::size_t n = 0; n < good.size(); ++n) {
      try {
        decode_image(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)), "prefix");
      } catch (const Error&) {
        ++errors;
      }
    }
    CHECK(errors == static_cast<int>(good.size()));  // every proper prefix is refused
    for (std::size_t i = 0; i < good.size(); i += 3) {
      Bytes b = good;
      b[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
      try {
        const Image im = decode_image(b, "flip");
        CHECK(im.bgr.size() == static_cast<std::size_t>(im.width) * im.height * 3);
      } catch (const Error&) {
      }
    }
  }
}

TEST_CASE("the real photos decode (sizes from preprocess.json)" * doctest::test_suite("fixtures")) {
  if (!yv9test::have_fixtures()) return;
  const std::string dir = preprocess_dir();
  const Image h = load_image(dir + "/horses.jpg");
  CHECK(h.width == 773);
  CHECK(h.height == 512);
  const Image p = load_image(dir + "/chelsea_portrait.png");
  CHECK(p.width == 201);
  CHECK(p.height == 300);
  // PNG decode is exact: compare coffee.png against itself re-encoded losslessly.
  const Image c = load_image(dir + "/coffee.png");
  CHECK(decode_image(encode_image(c, ".png"), "re.png").bgr == c.bgr);
}
