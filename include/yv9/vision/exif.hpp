// SPDX-License-Identifier: MIT
// EXIF orientation, applied the way OpenCV 4.x cv2.imread(path, IMREAD_COLOR) applies it, so a
// photo taken in portrait gives the pixels upstream's pipeline sees.
//
// Where cv2 finds the EXIF block:
//   JPEG: the *first* APP1 segment before the first SOS, whatever its signature; the 6 bytes
//         after the segment length ("Exif\0\0") are skipped unchecked and the rest is a TIFF block.
//   PNG:  the eXIf chunk (libpng keeps the first; it must start with "II" or "MM").
// How cv2 reads it (its ExifReader, replayed here):
//   TIFF header: byte order "II" = little endian, anything else big endian; u16 at 2 must be 42;
//   u32 at 4 = offset of IFD0. Only IFD0 is read, entry by entry (12 bytes each). A known tag
//   whose value lies outside the block aborts the parse, keeping the entries read so far; for a
//   repeated tag the first entry wins. Orientation = tag 0x0112 (u16 at entry + 8).
//   Values 1..8 transform the image (below); any other value, or no tag, leaves it untouched.
// Every read is bounds-checked; a malformed block never throws, it just yields "no orientation".
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "image.hpp"

namespace yv9::vision {

namespace detail {

// Replays OpenCV's ExifReader over a TIFF block. Returns the orientation value, or 0 if absent.
class TiffOrientationReader {
 public:
  TiffOrientationReader(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {
    // cv2: 'I','I' -> little endian; 'M','M' and every malformed marker -> big endian.
    little_ = n_ >= 1 && d_[0] == 'I' && (n_ == 1 || d_[1] == 'I');
  }

  std::uint16_t orientation() {
    orientation_ = 0;
    found_ = false;
    parse_ifd0();  // stops early on the first out-of-bounds read, like cv2
    return orientation_;
  }

 private:
  // The exceptions of OpenCV are modelled by a sticky `ok_` flag.
  std::uint16_t u16(std::size_t off) {
    if (!ok_ || off + 1 >= n_) return fail();
    return little_ ? std::uint16_t(d_[off] | d_[off + 1] << 8) : std::uint16_t(d_[off] << 8 | d_[off + 1]);
  }
  std::uint32_t u32(std::size_t off) {
    if (!ok_ || off + 3 >= n_) return fail();
    const std::uint32_t b0 = d_[off], b1 = d_[off + 1], b2 = d_[off + 2], b3 = d_[off + 3];
    return little_ ? (b0 | b1 << 8 | b2 << 16 | b3 << 24) : (b0 << 24 | b1 << 16 | b2 << 8 | b3);
  }
  std::uint16_t fail() {
    ok_ = false;
    return 0;
  }
  // Reading `count` unsigned rationals at the offset stored in the entry (cv2 keeps the offset in
  // a uint32 and advances it by 8, so it wraps exactly as there).
  void rationals(std::size_t entry, int count) {
    std::uint32_t at = u32(entry + 8);
    for (int i = 0; i < count && ok_; ++i, at += 8) {
      u32(at);
      u32(static_cast<std::size_t>(at) + 4);
    }
  }
  void string_value(std::size_t entry) {
    const std::size_t size = u32(entry + 4);
    std::size_t at = 8;  // cv2 uses 8 as an absolute offset for short strings (harmless quirk)
    if (size > 4) at = u32(entry + 8);
    if (ok_ && (at > n_ || at + size > n_)) ok_ = false;
  }
  void parse_entry(std::size_t off) {
    const std::uint16_t tag = u16(off);
    if (!ok_) return;
    switch (tag) {
      case 0x010E: case 0x010F: case 0x0110: case 0x0131: case 0x0132: case 0x8298:
        string_value(off);
        break;
      case 0x0112: {
        const std::uint16_t v = u16(off + 8);
        if (ok_ && !found_) orientation_ = v, found_ = true;
        break;
      }
      case 0x011A: case 0x011B: rationals(off, 1); break;
      case 0x013E: rationals(off, 2); break;
      case 0x013F: case 0x0214: rationals(off, 6); break;
      case 0x0211: rationals(off, 3); break;
      case 0x0128: case 0x0213: u16(off + 8); break;
      default: break;  // 0x8769 (Exif sub-IFD offset) and unknown tags: nothing is read
    }
  }
  void parse_ifd0() {
    if (u16(2) != 0x2A || !ok_) return;
    std::uint32_t off = u32(4);
    const std::size_t count = u16(off);
    off += 2;
    for (std::size_t i = 0; i < count && ok_; ++i, off += 12) parse_entry(off);
  }

  const std::uint8_t* d_;
  std::size_t n_;
  bool little_ = false;
  bool ok_ = true;
  bool found_ = false;
  std::uint16_t orientation_ = 0;
};

inline std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

}  // namespace detail

// Orientation value of a TIFF/EXIF block as cv2 reads it (0 = no orientation tag).
inline int exif_orientation_from_tiff(const std::uint8_t* tiff, std::size_t size) {
  if (!tiff || size == 0) return 0;
  return detail::TiffOrientationReader(tiff, size).orientation();
}

// Mirrors / transposes `im` in place as cv2's ExifTransform does for orientation 2..8.
//   2 flip x | 3 flip x+y | 4 flip y | 5 transpose | 6 transpose, flip x (90 deg clockwise)
//   7 transpose, flip x+y | 8 transpose, flip y (90 deg counter-clockwise)
inline void apply_exif_orientation(Image& im, int orientation) {
  if (orientation < 2 || orientation > 8 || im.empty()) return;
  const bool transpose = orientation >= 5;
  const bool flip_x = orientation == 2 || orientation == 3 || orientation == 6 || orientation == 7;
  const bool flip_y = orientation == 3 || orientation == 4 || orientation == 7 || orientation == 8;
  const int ow = transpose ? im.height : im.width;
  const int oh = transpose ? im.width : im.height;
  Image out(ow, oh);
  for (int y = 0; y < oh; ++y) {
    const int ty = flip_y ? oh - 1 - y : y;  // position in the transposed (not yet flipped) image
    for (int x = 0; x < ow; ++x) {
      const int tx = flip_x ? ow - 1 - x : x;
      const std::uint8_t* s = transpose ? im.px(ty, tx) : im.px(tx, ty);
      std::uint8_t* d = out.px(x, y);
      d[0] = s[0], d[1] = s[1], d[2] = s[2];
    }
  }
  im = std::move(out);
}

}  // namespace yv9::vision
