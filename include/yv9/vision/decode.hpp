// SPDX-License-Identifier: MIT
// Image decoding for untrusted files: JPEG, PNG and BMP -> Image (8-bit BGR), matching what
// upstream's `cv2.imread(path)` (IMREAD_COLOR) hands to letterbox:
//   * gray -> BGR by replication; alpha (RGBA, gray+alpha, palette tRNS) dropped, not composited;
//   * 16-bit PNG -> 8 bit by keeping the high byte (v >> 8), like libpng's strip_16;
//   * EXIF orientation applied (exif.hpp);
//   * PNG pixels are exact; JPEG pixels come from stb_image's IDCT/upsampler, which differs from
//     libjpeg-turbo's by a few levels on some pixels (measured in tests/test_vision_preprocess).
// Before stb sees the data we check the container ourselves: signature, every JPEG segment
// length up to EOI, every PNG chunk length and CRC up to IEND, BMP pixel-array size; then the
// dimensions from the header against ImageLimits. So truncated or corrupt files and absurd sizes
// give one FormatError / LimitError naming the file, before any pixel memory is allocated.
#pragma once
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../io/file.hpp"
#include "exif.hpp"
#include "image.hpp"
#include "stb.hpp"

namespace yv9::vision {

// Upper bound for the size of an image *file* (the decoded size is bounded by ImageLimits).
inline constexpr std::int64_t kMaxImageFileBytes = std::int64_t(1) << 30;

namespace detail {

enum class ImageKind { Unknown, Jpeg, Png, Bmp };

inline const char* kind_name(ImageKind k) {
  switch (k) {
    case ImageKind::Jpeg: return "JPEG";
    case ImageKind::Png: return "PNG";
    case ImageKind::Bmp: return "BMP";
    default: return "unknown";
  }
}

inline ImageKind sniff_image(const std::uint8_t* d, std::size_t n) {
  static const std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageKind::Jpeg;
  if (n >= 8 && std::memcmp(d, png_sig, 8) == 0) return ImageKind::Png;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return ImageKind::Bmp;
  return ImageKind::Unknown;
}

// What the container walk found: a problem ("" if none) and the EXIF/TIFF block cv2 would read.
struct ContainerInfo {
  std::string problem;
  std::int64_t width = 0, height = 0;  // from the header when we parse it (0 = leave it to stb)
  const std::uint8_t* exif = nullptr;
  std::size_t exif_size = 0;
};

inline std::uint16_t be16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }
inline std::uint32_t le32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}

// DHT segment payload: every table must have class <= 1, id <= 3 and at most 256 codes that fit in
// the segment. stb_image 2.27 (Debian bookworm) trusts the code count and overruns its tables
// otherwise (CVE-2021-37789); libjpeg rejects such files too.
inline bool jpeg_dht_ok(const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    if (n < 17) return false;
    if ((p[0] >> 4) > 1 || (p[0] & 15) > 3) return false;
    std::size_t codes = 0;
    for (int i = 1; i <= 16; ++i) codes += p[i];
    if (codes > 256 || codes > n - 17) return false;
    p += 17 + codes, n -= 17 + codes;
  }
  return true;
}

// Start-of-frame markers (SOF0..15 except DHT C4, JPG C8, DAC CC). A second frame header makes
// stb re-allocate components mid-decode (CVE-2022-28042); libjpeg refuses it as well.
inline bool is_sof(std::uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

// JPEG: marker segments up to the first SOS (where libjpeg collects APP1), then the entropy-coded
// data of every scan, until EOI. A file that ends before EOI is truncated.
inline ContainerInfo scan_jpeg(const std::uint8_t* d, std::size_t n) {
  ContainerInfo info;
  std::size_t pos = 2;  // after SOI
  bool in_scan = false;
  bool seen_app1 = false;
  int frames = 0;
  for (;;) {
    if (in_scan) {  // skip entropy-coded bytes: FF 00 is a stuffed byte, FF D0..D7 a restart
      for (;;) {
        const void* ff = pos < n ? std::memchr(d + pos, 0xFF, n - pos) : nullptr;
        if (!ff) return info.problem = "truncated (no end-of-image marker)", info;
        pos = static_cast<std::size_t>(static_cast<const std::uint8_t*>(ff) - d);
        std::size_t q = pos + 1;
        while (q < n && d[q] == 0xFF) ++q;
        if (q >= n) return info.problem = "truncated (no end-of-image marker)", info;
        if (d[q] == 0x00 || (d[q] >= 0xD0 && d[q] <= 0xD7)) {
          pos = q + 1;
          continue;
        }
        pos = q;
        break;
      }
    } else {  // between segments libjpeg skips stray bytes and 0xFF fill bytes
      while (pos < n && d[pos] != 0xFF) ++pos;
      while (pos < n && d[pos] == 0xFF) ++pos;
      if (pos >= n) return info.problem = "truncated (no end-of-image marker)", info;
    }
    const std::uint8_t m = d[pos++];
    if (m == 0xD9) {
      if (!in_scan) info.problem = "no image data (end-of-image before any scan)";
      return info;
    }
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // stuffing, TEM, RSTn
    if (m == 0xD8) return info.problem = "corrupt (second start-of-image marker)", info;
    if (pos + 2 > n) return info.problem = "truncated inside a marker segment", info;
    const std::size_t len = be16(d + pos);
    if (len < 2) return info.problem = "corrupt marker segment length", info;
    if (len > n - pos) return info.problem = "truncated inside a marker segment", info;
    if (m == 0xC4 && !jpeg_dht_ok(d + pos + 2, len - 2)) return info.problem = "corrupt (bad Huffman table)", info;
    if (is_sof(m) && ++frames > 1) return info.problem = "corrupt (two start-of-frame markers)", info;
    if (m == 0xE1 && !seen_app1 && !in_scan) {
      // cv2 takes the first APP1 (even an XMP one) as EXIF and skips its 6-byte "Exif\0\0"
      // signature unchecked; later APP1 segments are never looked at.
      seen_app1 = true;
      if (len - 2 > 6) info.exif = d + pos + 2 + 6, info.exif_size = len - 2 - 6;
    }
    pos += len;
    if (m == 0xDA) in_scan = true;
  }
}

inline std::uint32_t crc32(const std::uint8_t* p, std::size_t n) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// PNG: every chunk must fit and critical chunks must pass their CRC (libpng's rules: a bad CRC
// on an ancillary chunk only drops that chunk); IHDR first, IEND last.
inline ContainerInfo scan_png(const std::uint8_t* d, std::size_t n) {
  ContainerInfo info;
  std::size_t pos = 8;
  bool first = true;
  for (;;) {
    if (n - pos < 12) return info.problem = "truncated (no IEND chunk)", info;
    const std::uint32_t len = be32(d + pos);
    if (len > 0x7FFFFFFFu) return info.problem = "corrupt chunk length", info;
    if (len > n - pos - 12) return info.problem = "truncated inside a chunk", info;
    const std::uint8_t* type = d + pos + 4;
    const std::uint8_t* data = d + pos + 8;
    const bool critical = (type[0] & 0x20) == 0;
    const bool crc_ok = crc32(type, len + 4) == be32(data + len);
    if (critical && !crc_ok)
      return info.problem = "corrupt (CRC error in chunk " + std::string(reinterpret_cast<const char*>(type), 4) + ")", info;
    if (first) {
      if (std::memcmp(type, "IHDR", 4) != 0 || len != 13) return info.problem = "corrupt (first chunk is not IHDR)", info;
      // Read here because stb refuses very large sizes with a vague "unknown image type".
      info.width = be32(data), info.height = be32(data + 4);
      first = false;
    }
    if (std::memcmp(type, "eXIf", 4) == 0 && crc_ok && !info.exif && len >= 2 &&
        ((data[0] == 'I' && data[1] == 'I') || (data[0] == 'M' && data[1] == 'M')))
      info.exif = data, info.exif_size = len;
    if (std::memcmp(type, "IEND", 4) == 0) return info;
    pos += 12 + std::size_t(len);
  }
}

// BMP: stb reads past the end as zeros, so check that the pixel array is all there.
inline ContainerInfo scan_bmp(const std::uint8_t* d, std::size_t n) {
  ContainerInfo info;
  if (n < 26) return info.problem = "truncated header", info;
  const std::uint32_t off_bits = le32(d + 10);
  const std::uint32_t hsize = le32(d + 14);
  std::int64_t w = 0, h = 0, bpp = 0, compression = 0;
  if (hsize == 12) {
    w = d[18] | d[19] << 8, h = d[20] | d[21] << 8, bpp = d[24] | d[25] << 8;
  } else {
    if (n < 34) return info.problem = "truncated header", info;
    w = static_cast<std::int32_t>(le32(d + 18)), h = static_cast<std::int32_t>(le32(d + 22));
    bpp = d[28] | d[29] << 8, compression = le32(d + 30);
  }
  if (h < 0) h = -h;  // top-down bitmap
  info.width = w, info.height = h;
  if (off_bits > n) return info.problem = "truncated (pixel data offset beyond the end of the file)", info;
  const bool uncompressed = compression == 0 || compression == 3 || compression == 6;
  if (uncompressed && w > 0 && bpp > 0 && bpp <= 32) {
    const std::int64_t row = ((w * bpp + 31) / 32) * 4;
    if (h > 0 && row > 0 && (static_cast<std::int64_t>(n) - off_bits) / row < h)
      return info.problem = "truncated (pixel data shorter than the header says)", info;
  }
  return info;
}

inline ContainerInfo scan_container(ImageKind k, const std::uint8_t* d, std::size_t n) {
  switch (k) {
    case ImageKind::Jpeg: return scan_jpeg(d, n);
    case ImageKind::Png: return scan_png(d, n);
    case ImageKind::Bmp: return scan_bmp(d, n);
    default: return {};
  }
}

inline std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown error";
}

}  // namespace detail

namespace detail {

// What the header says, checked: container, dimensions against the limits, EXIF orientation.
struct HeaderInfo {
  ImageKind kind = ImageKind::Unknown;
  int width = 0, height = 0;  // as stored (before the orientation is applied)
  int orientation = 0;
};

inline HeaderInfo check_header(const std::uint8_t* data, std::size_t size, const std::string& name, const ImageLimits& limits) {
  if (!data || size == 0) throw FormatError(name + ": empty file, not an image");
  if (size > static_cast<std::size_t>(INT_MAX))
    throw LimitError(name + ": file of " + std::to_string(size) + " bytes is too large for the decoder");
  HeaderInfo h;
  h.kind = sniff_image(data, size);
  if (h.kind == ImageKind::Unknown) throw FormatError(name + ": not a JPEG, PNG or BMP image (unrecognised signature)");
  const ContainerInfo box = scan_container(h.kind, data, size);
  if (!box.problem.empty()) throw FormatError(name + ": " + kind_name(h.kind) + " " + box.problem);
  if (box.width != 0 || box.height != 0) check_image_size(name, box.width, box.height, limits);
  int comp = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &h.width, &h.height, &comp))
    throw FormatError(name + ": corrupt " + kind_name(h.kind) + " header (" + stb_reason() + ")");
  h.orientation = box.exif ? exif_orientation_from_tiff(box.exif, box.exif_size) : 0;
  check_image_size(name, h.width, h.height, limits);
  if (h.orientation >= 5) check_image_size(name, h.height, h.width, limits);  // it will be transposed
  return h;
}

}  // namespace detail

// Decodes an image held in memory. `name` (usually the path) prefixes every error message.
inline Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name,
                          const ImageLimits& limits = {}) {
  using namespace detail;
  const HeaderInfo hd = check_header(data, size, name, limits);
  const ImageKind kind = hd.kind;
  const int w = hd.width, h = hd.height, len = static_cast<int>(size);
  int dw = 0, dh = 0, comp = 0;
  std::uint8_t* rgb = stbi_load_from_memory(data, len, &dw, &dh, &comp, 3);
  if (!rgb) throw FormatError(name + ": corrupt " + kind_name(kind) + " data (" + stb_reason() + ")");
  if (dw != w || dh != h) {
    stbi_image_free(rgb);
    throw FormatError(name + ": inconsistent " + kind_name(kind) + " dimensions");
  }
  Image im;
  try {
    im = Image(w, h);
  } catch (...) {
    stbi_image_free(rgb);
    throw;
  }
  const std::size_t px = static_cast<std::size_t>(w) * h;
  for (std::size_t i = 0; i < px; ++i) {
    im.bgr[3 * i + 0] = rgb[3 * i + 2];
    im.bgr[3 * i + 1] = rgb[3 * i + 1];
    im.bgr[3 * i + 2] = rgb[3 * i + 0];
  }
  stbi_image_free(rgb);
  apply_exif_orientation(im, hd.orientation);
  return im;
}

inline Image decode_image(const std::vector<std::uint8_t>& bytes, const std::string& name,
                          const ImageLimits& limits = {}) {
  return decode_image(bytes.data(), bytes.size(), name, limits);
}

// cv2.imread(path) equivalent for JPEG/PNG/BMP; every failure names the file.
inline Image load_image(const std::string& path, const ImageLimits& limits = {}) {
  return decode_image(io::read_file_bytes(path, static_cast<std::uint64_t>(kMaxImageFileBytes), "an image file"), path, limits);
}

// The size load_image would return (EXIF orientation applied), from the checked header alone: no
// pixels are decoded. Used to plan work (val's aspect-ratio batches) before loading anything.
struct ImageSize {
  int width = 0, height = 0;
};
inline ImageSize probe_image(const std::string& path, const ImageLimits& limits = {}) {
  const std::vector<std::uint8_t> bytes = io::read_file_bytes(path, static_cast<std::uint64_t>(kMaxImageFileBytes), "an image file");
  const detail::HeaderInfo h = detail::check_header(bytes.data(), bytes.size(), path, limits);
  return h.orientation >= 5 ? ImageSize{h.height, h.width} : ImageSize{h.width, h.height};
}

}  // namespace yv9::vision
