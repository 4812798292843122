// SPDX-License-Identifier: MIT
// Reading a whole file under a size limit: the one entry point every reader uses, so that each
// refuses directories, special files and oversized inputs the same way, naming the file. And
// ReadOnlyFile, for readers that take a large file piece by piece (the weight file's tensors).
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace yv9::io {

// `what` names the expected content in the directory message ("an image file", "a weight file").
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path, std::uint64_t max_bytes,
                                                 const char* what = "a file") {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw IoError(path + ": is a directory, not " + what);
  if (!S_ISREG(st.st_mode)) throw IoError(path + ": not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    throw LimitError(path + ": file is " + std::to_string(st.st_size) + " bytes, over the limit of " +
                     std::to_string(max_bytes));
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(path + ": cannot open: " + std::strerror(errno));
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  if (!bytes.empty() && !f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
    throw IoError(path + ": read failed after " + std::to_string(f.gcount()) + " of " + std::to_string(bytes.size()) +
                  " bytes");
  return bytes;
}

// An open regular file read at offsets (pread): nothing of it is held in memory, and a file that
// shrinks while it is read gives an IoError, never a fault (as a memory mapping would: SIGBUS).
class ReadOnlyFile {
 public:
  ReadOnlyFile(const std::string& path, std::uint64_t max_bytes, const char* what) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
      const int e = errno;
      ::close(fd_);
      throw IoError(path + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw IoError(path + (S_ISDIR(st.st_mode) ? std::string(": is a directory, not ") + what : ": not a regular file"));
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
    if (size_ > max_bytes) {
      ::close(fd_);
      throw LimitError(path + ": file is " + std::to_string(size_) + " bytes, over the limit of " +
                       std::to_string(max_bytes));
    }
  }
  ~ReadOnlyFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  std::uint64_t size() const { return size_; }  // when opened
  const std::string& path() const { return path_; }

  // Reads n bytes at offset into dst (safe from several threads at once).
  void read_at(std::uint64_t offset, std::uint64_t n, std::uint8_t* dst) const {
    std::uint64_t done = 0;
    while (done < n) {
      const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(n - done, std::uint64_t(1) << 30));
      const ssize_t got = ::pread(fd_, dst + done, chunk, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw IoError(path_ + ": read failed at byte " + std::to_string(offset + done) + ": " + std::strerror(errno));
      if (got == 0)
        throw IoError(path_ + ": file ended at byte " + std::to_string(offset + done) + " while reading it (it was " +
                      std::to_string(size_) + " bytes when opened: changed while in use?)");
      done += static_cast<std::uint64_t>(got);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

inline std::string read_text_file(const std::string& path, std::uint64_t max_bytes, const char* what = "a text file") {
  std::vector<std::uint8_t> b = read_file_bytes(path, max_bytes, what);
  return std::string(b.begin(), b.end());
}

}  // namespace yv9::io
