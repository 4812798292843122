// SPDX-License-Identifier: MIT
// Errors: every failure the library reports is an exception derived from yv9::Error whose message
// names the file/item and the problem in one line. Tools turn them into one stderr line and an
// exit code (usage errors 2, everything else 1).
#pragma once
#include <stdexcept>
#include <string>

namespace yv9 {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file (weights, .pt, .npy, yaml, image) is malformed, truncated, or of an unsupported kind.
class FormatError : public Error {
 public:
  using Error::Error;
};

// The model description (yaml / builder arguments) is invalid or unsupported.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// Weights do not match the model: missing, unused or mis-shaped tensors.
class WeightError : public Error {
 public:
  using Error::Error;
};

// A configured resource limit (element count, image size, header size, nesting depth) was exceeded.
class LimitError : public Error {
 public:
  using Error::Error;
};

// Bad command-line usage or API arguments.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Operating-system level I/O failure (open, read, write, rename).
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace yv9
