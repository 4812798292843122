// SPDX-License-Identifier: MIT
// Read-only ZIP reader for torch.save archives, over bytes already in memory.
//
// What torch.save writes (PyTorchStreamWriter, miniz): every entry STORED (method 0), data aligned
// to 64 bytes by an "FB" padding extra field in the LOCAL header, general-purpose flag bit 3 set
// (sizes and CRC in a data descriptor after the data, zeros in the local header), and a ZIP64
// end-of-central-directory record + locator before the classic one even for small files.
//
//   [local header 30 B][name][extra: "FB" len 'Z'...][data ........][data descriptor] ... per entry
//   [central directory: 46 B + name + extra + comment per entry]
//   [ZIP64 EOCD 56 B][ZIP64 locator 20 B][EOCD 22 B + comment]
//
// So sizes/CRC come from the central directory (ZIP64 extra field when a 32-bit field is
// 0xFFFFFFFF) and the data offset from the local header's own name/extra lengths. Every offset
// and size is checked against the buffer before use; the reader never allocates a size taken from
// the file. Deflated entries are listed but refused when read (torch never compresses).
#pragma once
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"

namespace yv9::io {

struct ZipLimits {
  std::uint64_t max_entries = 1u << 20;
  bool verify_crc = true;  // a stored CRC of 0 means "not recorded" (torch can skip CRCs)
};

struct ZipEntry {
  std::string name;
  std::uint16_t method = 0;   // 0 stored, 8 deflate, ...
  std::uint16_t flags = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t size = 0;     // uncompressed
  std::uint64_t local_offset = 0;
  std::uint64_t data_offset = 0;  // start of the data in the archive
};

namespace detail {

inline std::uint32_t crc32_update(std::uint32_t crc, const std::uint8_t* p, std::size_t n) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

// Bounds-checked little-endian reads from a byte range; errors name the archive and the field.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::uint64_t size, const std::string& label)
      : p_(data), n_(size), label_(label) {}
  bool has(std::uint64_t off, std::uint64_t len) const { return off <= n_ && len <= n_ - off; }
  void need(std::uint64_t off, std::uint64_t len, const char* what) const {
    if (!has(off, len))
      throw FormatError(label_ + ": " + what + " at offset " + std::to_string(off) + " (+" + std::to_string(len) +
                        " bytes) lies outside the " + std::to_string(n_) + "-byte file (truncated or corrupt ZIP)");
  }
  std::uint64_t le(std::uint64_t off, int bytes, const char* what) const {
    need(off, static_cast<std::uint64_t>(bytes), what);
    std::uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | p_[off + static_cast<std::uint64_t>(k)];
    return v;
  }
  std::uint16_t u16(std::uint64_t off, const char* what) const { return static_cast<std::uint16_t>(le(off, 2, what)); }
  std::uint32_t u32(std::uint64_t off, const char* what) const { return static_cast<std::uint32_t>(le(off, 4, what)); }
  std::uint64_t u64(std::uint64_t off, const char* what) const { return le(off, 8, what); }
  const std::uint8_t* at(std::uint64_t off) const { return p_ + off; }
  std::uint64_t size() const { return n_; }

 private:
  const std::uint8_t* p_;
  std::uint64_t n_;
  const std::string& label_;
};

inline constexpr std::uint32_t kLocalSig = 0x04034b50;
inline constexpr std::uint32_t kCentralSig = 0x02014b50;
inline constexpr std::uint32_t kEocdSig = 0x06054b50;
inline constexpr std::uint32_t kZip64EocdSig = 0x06064b50;
inline constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;

}  // namespace detail

// A parsed archive: a view over caller-owned bytes (they must outlive it).
class ZipArchive {
 public:
  ZipArchive(const std::uint8_t* data, std::uint64_t size, std::string label, const ZipLimits& limits = {})
      : data_(data), size_(size), label_(std::move(label)), limits_(limits) {
    read_central_directory();
  }

  const std::string& label() const { return label_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &entries_[it->second];
  }
  // The bytes of a stored entry (CRC-checked unless disabled). Throws for compressed/encrypted ones.
  std::string_view data(const ZipEntry& e) const {
    if (e.flags & 1) fail("entry \"" + e.name + "\" is encrypted");
    if (e.method != 0)
      fail("entry \"" + e.name + "\" is compressed (method " + std::to_string(e.method) +
           "); torch.save never compresses — was the archive re-zipped? Re-save it with torch.save");
    const char* p = reinterpret_cast<const char*>(data_ + e.data_offset);
    const std::size_t idx = static_cast<std::size_t>(&e - entries_.data());
    if (idx >= entries_.size() || &entries_[idx] != &e) throw UsageError(label_ + ": entry not from this archive");
    if (limits_.verify_crc && e.crc != 0 && !crc_checked_[idx]) {
      const std::uint32_t c = detail::crc32_update(0, data_ + e.data_offset, static_cast<std::size_t>(e.size));
      if (c != e.crc)
        fail("entry \"" + e.name + "\": CRC mismatch (stored " + hex32(e.crc) + ", computed " + hex32(c) +
             "): the file is corrupted");
      crc_checked_[idx] = 1;  // shared storages are read once per tensor: check each entry once
    }
    return std::string_view(p, static_cast<std::size_t>(e.size));
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(label_ + ": " + what); }
  static std::string hex32(std::uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "%08x", v);
    return b;
  }

  struct Directory {
    std::uint64_t entries = 0, offset = 0, size = 0;
  };

  // The classic EOCD is the last 22+comment bytes; scan back over at most a 64 KiB comment.
  std::uint64_t find_eocd(const detail::ByteReader& r) const {
    if (size_ < 22) fail("not a ZIP archive: " + std::to_string(size_) + " bytes is too short (truncated?)");
    const std::uint64_t lowest = size_ > 22 + 0xFFFF ? size_ - 22 - 0xFFFF : 0;
    for (std::uint64_t off = size_ - 22;; --off) {
      if (r.u32(off, "end of central directory") == detail::kEocdSig &&
          off + 22 + r.u16(off + 20, "ZIP comment length") == size_)
        return off;
      if (off == lowest) break;
    }
    fail("no ZIP end-of-central-directory record (truncated or not a ZIP archive)");
  }

  Directory read_directory_location(const detail::ByteReader& r) const {
    const std::uint64_t eocd = find_eocd(r);
    if (r.u16(eocd + 4, "EOCD disk number") != 0 || r.u16(eocd + 6, "EOCD directory disk") != 0)
      fail("multi-disk ZIP archives are not supported");
    Directory d;
    d.entries = r.u16(eocd + 10, "EOCD entry count");
    d.size = r.u32(eocd + 12, "EOCD directory size");
    d.offset = r.u32(eocd + 16, "EOCD directory offset");
    if (eocd >= 20 && r.u32(eocd - 20, "ZIP64 locator") == detail::kZip64LocatorSig) {
      const std::uint64_t z = r.u64(eocd - 20 + 8, "ZIP64 locator offset");
      if (r.u32(z, "ZIP64 end of central directory") != detail::kZip64EocdSig)
        fail("ZIP64 locator points at offset " + std::to_string(z) + ", which is not a ZIP64 EOCD record");
      d.entries = r.u64(z + 32, "ZIP64 entry count");
      d.size = r.u64(z + 40, "ZIP64 directory size");
      d.offset = r.u64(z + 48, "ZIP64 directory offset");
    }
    if (d.entries > limits_.max_entries)
      fail("archive claims " + std::to_string(d.entries) + " entries, over the limit of " +
           std::to_string(limits_.max_entries));
    r.need(d.offset, d.size, "central directory");
    if (d.entries > d.size / 46) fail("central directory of " + std::to_string(d.size) + " bytes cannot hold " +
                                      std::to_string(d.entries) + " entries");
    return d;
  }

  // ZIP64 extended information: the 64-bit values, in this order, for the fields saturated at 0xFFFFFFFF.
  void apply_zip64_extra(const detail::ByteReader& r, std::uint64_t extra, std::uint64_t extra_len, ZipEntry& e) const {
    std::uint64_t pos = extra;
    const std::uint64_t end = extra + extra_len;
    while (pos + 4 <= end) {
      const std::uint16_t id = r.u16(pos, "extra field id");
      const std::uint16_t len = r.u16(pos + 2, "extra field length");
      if (pos + 4 + len > end) fail("entry \"" + e.name + "\": extra field overruns its record");
      if (id == 0x0001) {
        std::uint64_t q = pos + 4;
        const std::uint64_t qend = q + len;
        auto take = [&](std::uint64_t& field) {
          if (field != 0xFFFFFFFFu) return;
          if (q + 8 > qend) fail("entry \"" + e.name + "\": ZIP64 extra field too short");
          field = r.u64(q, "ZIP64 extra field");
          q += 8;
        };
        take(e.size);
        take(e.compressed_size);
        take(e.local_offset);
      }
      pos += 4 + static_cast<std::uint64_t>(len);
    }
  }

  ZipEntry read_central_entry(const detail::ByteReader& r, std::uint64_t& pos, std::uint64_t dir_end) const {
    if (pos + 46 > dir_end || r.u32(pos, "central directory entry") != detail::kCentralSig)
      fail("central directory entry at offset " + std::to_string(pos) + " is corrupt");
    ZipEntry e;
    e.flags = r.u16(pos + 8, "entry flags");
    e.method = r.u16(pos + 10, "entry method");
    e.crc = r.u32(pos + 16, "entry CRC");
    e.compressed_size = r.u32(pos + 20, "entry size");
    e.size = r.u32(pos + 24, "entry size");
    const std::uint64_t name_len = r.u16(pos + 28, "name length");
    const std::uint64_t extra_len = r.u16(pos + 30, "extra length");
    const std::uint64_t comment_len = r.u16(pos + 32, "comment length");
    e.local_offset = r.u32(pos + 42, "local header offset");
    const std::uint64_t next = pos + 46 + name_len + extra_len + comment_len;
    if (next > dir_end) fail("central directory entry at offset " + std::to_string(pos) + " overruns the directory");
    e.name.assign(reinterpret_cast<const char*>(r.at(pos + 46)), static_cast<std::size_t>(name_len));
    apply_zip64_extra(r, pos + 46 + name_len, extra_len, e);
    pos = next;
    locate_data(r, e);
    return e;
  }

  // The data starts after the LOCAL header's name and extra field (torch's alignment padding lives there).
  void locate_data(const detail::ByteReader& r, ZipEntry& e) const {
    const std::string item = "entry \"" + e.name + "\"";
    if (!r.has(e.local_offset, 30) || r.u32(e.local_offset, "local header") != detail::kLocalSig)
      fail(item + ": no local header at offset " + std::to_string(e.local_offset) + " (corrupt archive)");
    const std::uint64_t name_len = r.u16(e.local_offset + 26, "local name length");
    const std::uint64_t extra_len = r.u16(e.local_offset + 28, "local extra length");
    e.data_offset = e.local_offset + 30 + name_len + extra_len;
    if (name_len != e.name.size() || !r.has(e.local_offset + 30, name_len) ||
        std::memcmp(r.at(e.local_offset + 30), e.name.data(), e.name.size()) != 0)
      fail(item + ": local header name differs from the central directory (corrupt archive)");
    if (e.method == 0 && e.compressed_size != e.size)
      fail(item + ": stored entry with compressed size " + std::to_string(e.compressed_size) + " != size " +
           std::to_string(e.size));
    if (!r.has(e.data_offset, e.compressed_size))
      fail(item + ": data [" + std::to_string(e.data_offset) + ", +" + std::to_string(e.compressed_size) +
           ") lies outside the " + std::to_string(size_) + "-byte file (truncated?)");
  }

  void read_central_directory() {
    const detail::ByteReader r(data_, size_, label_);
    const Directory d = read_directory_location(r);
    entries_.reserve(static_cast<std::size_t>(d.entries));
    std::uint64_t pos = d.offset;
    for (std::uint64_t i = 0; i < d.entries; ++i) {
      ZipEntry e = read_central_entry(r, pos, d.offset + d.size);
      if (!index_.emplace(e.name, entries_.size()).second) fail("duplicate entry \"" + e.name + "\"");
      entries_.push_back(std::move(e));
    }
    crc_checked_.assign(entries_.size(), 0);
  }

  const std::uint8_t* data_;
  std::uint64_t size_;
  std::string label_;
  ZipLimits limits_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
  mutable std::vector<std::uint8_t> crc_checked_;
};

}  // namespace yv9::io
