// SPDX-License-Identifier: MIT
// Atomic file output: readers of PATH see either the old file or the complete new one, never a
// partial write. Bytes go to PATH.tmp.<pid>, are fsync'ed, and the temp file is renamed over PATH
// (rename(2) is atomic within one filesystem). On any failure — or if the writer is destroyed
// without commit(), e.g. during exception unwinding — the temp file is removed.
//
//   yv9::io::AtomicFileWriter w(path);
//   w.write(header.data(), header.size());
//   w.write(body.data(), body.size());
//   w.commit();                           // only now does PATH change
//
// POSIX only (open/write/fsync/rename).
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "../core/error.hpp"

namespace yv9::io {

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path)
      : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(static_cast<long>(::getpid()))) {
    if (path_.empty()) throw UsageError("output path is empty");
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError(path_ + ": cannot create temporary file " + tmp_ + ": " + std::strerror(errno));
  }
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter() { abandon(); }

  void write(const void* data, std::size_t n) {
    if (fd_ < 0) throw UsageError(path_ + ": write after commit or failure");
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const std::size_t chunk = n < (std::size_t(1) << 30) ? n : (std::size_t(1) << 30);
      const ssize_t w = ::write(fd_, p, chunk);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail("write to " + tmp_ + " failed");
      p += w;
      n -= static_cast<std::size_t>(w);
      written_ += static_cast<std::uint64_t>(w);
    }
  }
  void write(std::string_view s) { write(s.data(), s.size()); }

  // fsync + close + rename. After a successful commit PATH holds exactly the bytes written.
  void commit() {
    if (fd_ < 0) throw UsageError(path_ + ": commit after commit or failure");
    if (::fsync(fd_) != 0) fail("fsync of " + tmp_ + " failed");
    const int fd = fd_;
    fd_ = kClosed;
    if (::close(fd) != 0) fail("close of " + tmp_ + " failed");
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("rename " + tmp_ + " -> " + path_ + " failed");
    committed_ = true;
    sync_parent_directory();
  }

  std::uint64_t bytes_written() const { return written_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  [[noreturn]] void fail(const std::string& what) {
    const int err = errno;
    abandon();
    throw IoError(path_ + ": " + what + ": " + std::strerror(err));
  }
  void abandon() noexcept {
    if (committed_) return;
    if (fd_ == kDone) return;
    if (fd_ >= 0) ::close(fd_);
    ::unlink(tmp_.c_str());
    fd_ = kDone;
  }
  // Makes the rename itself durable; failure here is not an error for the caller.
  void sync_parent_directory() noexcept {
    const std::size_t slash = path_.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }

  static constexpr int kClosed = -2;  // temp file closed, still on disk
  static constexpr int kDone = -3;    // temp file renamed or removed

  std::string path_;
  std::string tmp_;
  int fd_ = kDone;
  bool committed_ = false;
  std::uint64_t written_ = 0;
};

// Writes bytes to path atomically (see AtomicFileWriter).
inline void write_file_atomic(const std::string& path, const void* data, std::size_t n) {
  AtomicFileWriter w(path);
  w.write(data, n);
  w.commit();
}
inline void write_file_atomic(const std::string& path, std::string_view text) {
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace yv9::io
