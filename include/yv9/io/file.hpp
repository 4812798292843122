// SPDX-License-Identifier: MIT
// Reading a whole file under a size limit: the one entry point every reader uses, so that each
// refuses directories, special files and oversized inputs the same way, naming the file.
#pragma once
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/stat.h>
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

inline std::string read_text_file(const std::string& path, std::uint64_t max_bytes, const char* what = "a text file") {
  std::vector<std::uint8_t> b = read_file_bytes(path, max_bytes, what);
  return std::string(b.begin(), b.end());
}

}  // namespace yv9::io
