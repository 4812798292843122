// SPDX-License-Identifier: MIT
// Data sets as upstream YOLOv9 (and ultralytics) describe and read them, for validation:
//
//   data.yaml                        path: /data/shapes        # root of the relative entries below
//                                    train: images/train       # a folder, a list of folders,
//                                    val: [images/val, extra]  #   or a .txt list of images
//                                    test: test.txt
//                                    names: [circle, square]   # or {0: circle, 1: square}
//                                    nc: 2                     # optional; names win (upstream)
//
//   /data/shapes/images/val/a.png  ->  /data/shapes/labels/val/a.txt   (the LAST "/images/" of the
//   path becomes "/labels/", the extension ".txt"; no label file = an image without objects)
//
//   label file, one object per line:  class cx cy w h   (normalised to the image, 0..1)
//   or a polygon:                     class x1 y1 x2 y2 ...  (any row with more than 6 values makes
//                                     every row of the file a polygon; its box is the extent)
//
// Paths: `path` relative to the yaml's folder (upstream resolves it against its own checkout, which
// a user of yv9 does not have), absent = the yaml's folder; split entries relative to `path`; a
// missing "../x" entry is retried as "x" (upstream's rule). In a .txt list, "./x" is relative to
// the list's folder and other relative lines to the working directory (upstream's rules too).
// Folders are searched recursively for files named *.ext with an upstream image extension, hidden
// names skipped (Python glob "**/*.*"); the list is sorted, each file once.
//
// Labels are checked as upstream's verify_image_label does: every value a number >= 0, coordinates
// <= 1, five columns; exact duplicate rows are dropped with a warning. A label file that fails a
// check makes upstream ignore the image *and* its labels ("ignoring corrupt image/label"); so do
// we, so that the image count and the metrics stay upstream's, and the warning names the file, the
// line and the problem. We also refuse class ids that are not integers in [0, nc) (upstream crashes
// on them later).
#pragma once
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "../core/error.hpp"
#include "../io/file.hpp"
#include "../io/yaml.hpp"

namespace yv9::vision {

struct DatasetLimits {
  std::size_t max_images = std::size_t(1) << 22;       // entries of one split
  std::size_t max_classes = 100000;                    // names
  std::uint64_t max_list_bytes = std::uint64_t(256) << 20;  // a .txt image list
  std::uint64_t max_label_bytes = std::uint64_t(16) << 20;  // one label file
  std::size_t max_label_rows = 100000;                 // objects in one label file
  int max_dir_depth = 32;                              // recursion into sub-folders
};

// Extensions upstream accepts as images (utils/dataloaders.py IMG_FORMATS). yv9 decodes jpg, jpeg,
// png and bmp; the others are listed like upstream does and then reported as unreadable.
inline bool is_upstream_image_name(const std::string& path) {
  const std::size_t dot = path.rfind('.');
  if (dot == std::string::npos) return false;
  std::string e = path.substr(dot + 1);
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const char* const kinds[] = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm"};
  for (const char* k : kinds)
    if (e == k) return true;
  return false;
}

struct DataConfig {
  std::string file;                                  // the yaml
  std::string root;                                  // resolved `path`
  std::vector<std::pair<std::string, std::vector<std::string>>> splits;  // train/val/test -> resolved entries
  std::vector<std::string> names;
  std::vector<std::string> warnings;

  const std::vector<std::string>* split(const std::string& name) const {
    for (const auto& s : splits)
      if (s.first == name) return &s.second;
    return nullptr;
  }
};

namespace detail {

inline bool path_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
inline bool path_is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
inline bool path_is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// pathlib's resolve(): absolute, symlinks of the existing part resolved, "." and ".." folded.
inline std::string resolve_path(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::path r = std::filesystem::weakly_canonical(std::filesystem::absolute(p, ec), ec);
  if (ec) r = std::filesystem::absolute(p, ec).lexically_normal();
  std::string s = r.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// yaml scalar -> the text str() gives in Python, for names written as numbers or booleans.
inline std::string scalar_text(const io::Json& v, const std::string& where) {
  if (v.is_string()) return v.as_string();
  if (v.is_integer()) return std::to_string(v.as_int());
  if (v.is_bool()) return v.as_bool() ? "True" : "False";
  if (v.is_number()) return v.dump();
  throw ConfigError(where + ": expected a name (a string), got " + v.dump());
}

inline std::string at(const std::string& file, const io::Json& v) {
  return v.origin.line ? file + ":" + std::to_string(v.origin.line) + ":" + std::to_string(v.origin.col) : file;
}

}  // namespace detail

inline DataConfig parse_data_config(const io::Json& doc, const std::string& file, const DatasetLimits& lim = {}) {
  using detail::at;
  if (!doc.is_object()) throw ConfigError(file + ": a data yaml must be a mapping (path:, val:, names: ...)");
  DataConfig c;
  c.file = file;
  const std::filesystem::path yaml_dir = std::filesystem::path(file).parent_path();
  const io::Json* path = doc.find("path");
  if (path && !path->is_null()) {
    if (!path->is_string() || path->as_string().empty()) throw ConfigError(at(file, *path) + ": 'path' must be a folder name");
    std::filesystem::path p(path->as_string());
    c.root = detail::resolve_path(p.is_absolute() ? p : yaml_dir / p);
  } else {
    c.root = detail::resolve_path(yaml_dir.empty() ? std::filesystem::path(".") : yaml_dir);
  }
  auto entry = [&](const io::Json& v) {
    if (!v.is_string() || v.as_string().empty()) throw ConfigError(at(file, v) + ": a split entry must be a path, got " + v.dump());
    const std::string& s = v.as_string();
    if (s.size() > 4096) throw LimitError(at(file, v) + ": path longer than 4096 characters");
    const std::filesystem::path p(s);
    std::string x = detail::resolve_path(p.is_absolute() ? p : std::filesystem::path(c.root) / p);
    if (!detail::path_exists(x) && s.rfind("../", 0) == 0) x = detail::resolve_path(std::filesystem::path(c.root) / s.substr(3));
    return x;
  };
  for (const char* k : {"train", "val", "test"}) {
    const io::Json* v = doc.find(k);
    if (!v || v->is_null() || (v->is_string() && v->as_string().empty())) continue;
    std::vector<std::string> entries;
    if (v->is_array()) {
      if (v->size() > 10000) throw LimitError(at(file, *v) + ": more than 10000 entries in '" + k + "'");
      for (const io::Json& e : v->as_array()) entries.push_back(entry(e));
    } else {
      entries.push_back(entry(*v));
    }
    c.splits.emplace_back(k, std::move(entries));
  }
  const io::Json* names = doc.find("names");
  const io::Json* nc = doc.find("nc");
  if (nc && !nc->is_null() && (!nc->is_integer() || nc->as_int() < 1 || nc->as_int() > static_cast<std::int64_t>(lim.max_classes)))
    throw ConfigError(at(file, *nc) + ": 'nc' must be an integer in [1, " + std::to_string(lim.max_classes) + "], got " + nc->dump());
  if (names && !names->is_null()) {
    if (names->size() > lim.max_classes) throw LimitError(at(file, *names) + ": more than " + std::to_string(lim.max_classes) + " names");
    if (names->is_array()) {
      for (const io::Json& n : names->as_array()) c.names.push_back(detail::scalar_text(n, at(file, n)));
    } else if (names->is_object()) {
      // {0: a, 1: b}: integer keys, every id from 0 to n - 1 exactly once.
      c.names.assign(names->size(), std::string());
      std::vector<char> seen(names->size(), 0);
      for (const auto& [k, v] : names->items()) {
        char* end = nullptr;
        errno = 0;
        const long id = std::strtol(k.c_str(), &end, 10);
        if (k.empty() || *end || errno || id < 0 || id >= static_cast<long>(names->size()) || seen[static_cast<std::size_t>(id)])
          throw ConfigError(at(file, v) + ": 'names' keys must be the class ids 0.." + std::to_string(names->size() - 1) +
                            ", each once; got '" + k + "'");
        seen[static_cast<std::size_t>(id)] = 1;
        c.names[static_cast<std::size_t>(id)] = detail::scalar_text(v, at(file, v));
      }
    } else {
      throw ConfigError(at(file, *names) + ": 'names' must be a list or a mapping {id: name}");
    }
    if (c.names.empty()) throw ConfigError(at(file, *names) + ": 'names' is empty");
    if (nc && !nc->is_null() && nc->as_int() != static_cast<std::int64_t>(c.names.size()))
      c.warnings.push_back(file + ": nc: " + std::to_string(nc->as_int()) + " disagrees with the " +
                           std::to_string(c.names.size()) + " names; using the names (as upstream)");
  } else if (nc && !nc->is_null()) {
    for (std::int64_t i = 0; i < nc->as_int(); ++i) c.names.push_back("class" + std::to_string(i));
  } else {
    throw ConfigError(file + ": neither 'names' nor 'nc' is given");
  }
  return c;
}

inline DataConfig load_data_config(const std::string& path, const DatasetLimits& lim = {}) {
  return parse_data_config(io::load_yaml(path), path, lim);
}

namespace detail {

inline void walk_images(const std::string& dir, int depth, const DatasetLimits& lim, std::vector<std::string>& out) {
  if (depth > lim.max_dir_depth)
    throw LimitError(dir + ": folders nested deeper than " + std::to_string(lim.max_dir_depth) + " levels (a symlink loop?)");
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw IoError(dir + ": cannot read the folder: " + std::strerror(errno));
  std::vector<std::string> subdirs;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.empty() || n[0] == '.') continue;  // ".", "..", hidden (glob skips them)
    const std::string p = dir + "/" + n;
    if (path_is_dir(p)) {
      subdirs.push_back(p);
    } else if (n.find('.') != std::string::npos && is_upstream_image_name(n)) {
      if (out.size() >= lim.max_images) {
        ::closedir(d);
        throw LimitError(dir + ": more than " + std::to_string(lim.max_images) + " images");
      }
      out.push_back(p);
    }
  }
  ::closedir(d);
  for (const std::string& s : subdirs) walk_images(s, depth + 1, lim, out);
}

}  // namespace detail

// Every image of a split, sorted: folders searched recursively, .txt files read as lists.
inline std::vector<std::string> list_images(const std::vector<std::string>& entries, const DatasetLimits& lim = {}) {
  std::vector<std::string> files;
  for (const std::string& e : entries) {
    if (detail::path_is_dir(e)) {
      detail::walk_images(e, 0, lim, files);
    } else if (detail::path_is_file(e)) {
      const std::string text = io::read_text_file(e, lim.max_list_bytes, "an image list");
      const std::string parent = std::filesystem::path(e).parent_path().string() + "/";
      std::size_t pos = 0;
      // str.strip().splitlines(): surrounding whitespace of the whole text goes, lines keep theirs.
      const std::size_t first = text.find_first_not_of(" \t\r\n\f\v");
      const std::size_t last = text.find_last_not_of(" \t\r\n\f\v");
      const std::string body = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
      while (pos <= body.size() && !body.empty()) {
        std::size_t nl = body.find_first_of("\r\n", pos);
        if (nl == std::string::npos) nl = body.size();
        std::string line = body.substr(pos, nl - pos);
        pos = nl + (nl + 1 < body.size() && body[nl] == '\r' && body[nl + 1] == '\n' ? 2 : 1);
        if (line.rfind("./", 0) == 0) line = parent + line.substr(2);
        if (!is_upstream_image_name(line)) continue;
        if (files.size() >= lim.max_images) throw LimitError(e + ": more than " + std::to_string(lim.max_images) + " images");
        files.push_back(line);
        if (nl >= body.size()) break;
      }
    } else {
      throw IoError(e + ": does not exist (a folder of images or a .txt list of them)");
    }
  }
  // Sorted; a file listed twice is read once (upstream keys its label cache by image path).
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  if (files.empty()) {
    std::string what;
    for (const std::string& e : entries) what += (what.empty() ? "" : ", ") + e;
    throw IoError(what + ": no images found (" + "bmp, jpeg, jpg, png, ...)");
  }
  return files;
}

// upstream img2label_paths for one image.
inline std::string label_path_for(const std::string& image) {
  std::string p = image;
  const std::size_t k = p.rfind("/images/");
  if (k != std::string::npos) p = p.substr(0, k) + "/labels/" + p.substr(k + 8);
  const std::size_t dot = p.rfind('.');
  return (dot == std::string::npos ? p : p.substr(0, dot)) + ".txt";
}

// One object of a label file, as upstream holds it (float32, normalised xywh).
struct LabelRow {
  float cls = 0, cx = 0, cy = 0, w = 0, h = 0;
  bool operator==(const LabelRow& o) const { return cls == o.cls && cx == o.cx && cy == o.cy && w == o.w && h == o.h; }
};

struct LabelFile {
  enum class Status { Missing, Empty, Ok, Corrupt } status = Status::Missing;
  std::vector<LabelRow> rows;
  std::string problem;     // Corrupt: "file:line: what"
  std::size_t duplicates = 0;
};

namespace detail {

// Python float() on one whitespace-free token (decimal, exponent, inf, nan); no hex.
inline bool parse_py_float(const std::string& t, double& v) {
  if (t.empty() || t.find_first_of("xX") != std::string::npos) return false;
  char* end = nullptr;
  v = std::strtod(t.c_str(), &end);
  return end && *end == '\0';
}

}  // namespace detail

// Checks the text of one label file (see the top of this file); `path` names it in messages, `nc`
// is the number of classes.
inline LabelFile parse_label_text(const std::string& text, const std::string& path, int nc, const DatasetLimits& lim = {}) {
  LabelFile f;
  // f.read().strip().splitlines(), keeping each row's line number in the file for messages.
  struct Row {
    int line;
    std::vector<std::string> tok;
  };
  std::vector<Row> rows;
  {
    int line = 1;
    std::size_t i = 0;
    const std::size_t n = text.size();
    while (i < n) {
      std::size_t e = i;
      while (e < n && text[e] != '\n' && text[e] != '\r') ++e;
      const std::string s = text.substr(i, e - i);
      std::vector<std::string> tok;
      std::size_t p = 0;
      while (p < s.size()) {
        while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
        std::size_t q = p;
        while (q < s.size() && !std::isspace(static_cast<unsigned char>(s[q]))) ++q;
        if (q > p) tok.push_back(s.substr(p, q - p));
        p = q;
      }
      if (!tok.empty()) rows.push_back({line, std::move(tok)});
      else if (!s.empty()) rows.push_back({line, {}});  // a blank-but-not-empty row (numpy refuses it)
      if (rows.size() > lim.max_label_rows) {
        f.status = LabelFile::Status::Corrupt;
        f.problem = path + ": more than " + std::to_string(lim.max_label_rows) + " rows";
        return f;
      }
      if (e < n && text[e] == '\r' && e + 1 < n && text[e + 1] == '\n') ++e;
      i = e + 1;
      ++line;
    }
    // strip(): blank rows at either end of the file do not count.
    while (!rows.empty() && rows.back().tok.empty()) rows.pop_back();
    while (!rows.empty() && rows.front().tok.empty()) rows.erase(rows.begin());
  }
  if (rows.empty()) {
    f.status = LabelFile::Status::Empty;
    return f;
  }
  auto corrupt = [&](int line, const std::string& what) {
    f.status = LabelFile::Status::Corrupt;
    f.problem = path + ":" + std::to_string(line) + ": " + what;
    f.rows.clear();
    return f;
  };
  auto number = [&](const std::string& t, float& out) {
    double d = 0;
    if (!detail::parse_py_float(t, d)) return false;
    out = static_cast<float>(d);
    return true;
  };
  bool segments = false;
  for (const Row& r : rows) segments = segments || r.tok.size() > 6;
  for (const Row& r : rows) {
    LabelRow lr;
    if (r.tok.empty()) return corrupt(r.line, "blank row inside the file");
    if (segments) {
      // class x1 y1 x2 y2 ...: the box around the polygon.
      if (r.tok.size() < 3 || (r.tok.size() - 1) % 2 != 0)
        return corrupt(r.line, "a polygon needs a class and x y pairs, got " + std::to_string(r.tok.size()) + " values");
      float xmin = 0, ymin = 0, xmax = 0, ymax = 0;
      if (!number(r.tok[0], lr.cls)) return corrupt(r.line, "'" + r.tok[0] + "' is not a number");
      for (std::size_t k = 1; k < r.tok.size(); k += 2) {
        float x = 0, y = 0;
        if (!number(r.tok[k], x)) return corrupt(r.line, "'" + r.tok[k] + "' is not a number");
        if (!number(r.tok[k + 1], y)) return corrupt(r.line, "'" + r.tok[k + 1] + "' is not a number");
        if (k == 1) xmin = xmax = x, ymin = ymax = y;
        xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y), ymax = std::max(ymax, y);
      }
      lr.cx = (xmin + xmax) / 2, lr.cy = (ymin + ymax) / 2, lr.w = xmax - xmin, lr.h = ymax - ymin;
    } else {
      if (r.tok.size() != 5) return corrupt(r.line, "labels require 5 columns, " + std::to_string(r.tok.size()) + " found");
      float* dst[5] = {&lr.cls, &lr.cx, &lr.cy, &lr.w, &lr.h};
      for (int k = 0; k < 5; ++k)
        if (!number(r.tok[static_cast<std::size_t>(k)], *dst[k]))
          return corrupt(r.line, "'" + r.tok[static_cast<std::size_t>(k)] + "' is not a number");
    }
    const float v[5] = {lr.cls, lr.cx, lr.cy, lr.w, lr.h};
    for (int k = 0; k < 5; ++k)
      if (!(v[k] >= 0)) return corrupt(r.line, "negative or NaN label value " + std::to_string(v[k]));
    for (int k = 1; k < 5; ++k)
      if (!(v[k] <= 1)) return corrupt(r.line, "non-normalized or out of bounds coordinate (> 1)");
    if (lr.cls != std::floor(lr.cls) || lr.cls >= static_cast<float>(nc))
      return corrupt(r.line, "class " + r.tok[0] + " is not an integer in [0, " + std::to_string(nc) + ")");
    if (std::find(f.rows.begin(), f.rows.end(), lr) != f.rows.end()) {
      ++f.duplicates;
      continue;
    }
    f.rows.push_back(lr);
  }
  f.status = LabelFile::Status::Ok;
  return f;
}

// Reads and checks one label file. No file (or a folder of that name) = Missing, as upstream.
inline LabelFile read_label_file(const std::string& path, int nc, const DatasetLimits& lim = {}) {
  LabelFile f;
  if (!detail::path_is_file(path)) {
    if (detail::path_exists(path) && !detail::path_is_dir(path)) f.status = LabelFile::Status::Corrupt, f.problem = path + ": not a regular file";
    return f;
  }
  try {
    return parse_label_text(io::read_text_file(path, lim.max_label_bytes, "a label file"), path, nc, lim);
  } catch (const Error& e) {
    f.status = LabelFile::Status::Corrupt, f.problem = e.what();
    return f;
  }
}

// upstream's rect batches: images sorted by aspect ratio h / w, cut into batches of `batch`; each
// batch gets the shape (h, w) = ceil(s * img / stride + pad) * stride, s = [max ar, 1] when every
// image of the batch is wide, [1, 1 / min ar] when every one is tall, else [1, 1].
struct RectBatch {
  std::vector<std::size_t> items;  // indices into the sizes given
  int height = 0, width = 0;
};

inline std::vector<RectBatch> rect_batches(const std::vector<std::pair<int, int>>& wh, int img, int batch, int stride,
                                           double pad) {
  if (img < 1 || batch < 1 || stride < 1) throw UsageError("rect_batches: img, batch and stride must be >= 1");
  std::vector<double> ar(wh.size());
  for (std::size_t i = 0; i < wh.size(); ++i) ar[i] = static_cast<double>(wh[i].second) / static_cast<double>(wh[i].first);
  std::vector<std::size_t> order(wh.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ar[a] < ar[b]; });
  std::vector<RectBatch> out;
  for (std::size_t s = 0; s < order.size(); s += static_cast<std::size_t>(batch)) {
    RectBatch b;
    // (a loop, not assign(first, last): GCC 12 reports a false -Wnonnull on the inlined memmove)
    for (std::size_t k = s; k < std::min(order.size(), s + static_cast<std::size_t>(batch)); ++k) b.items.push_back(order[k]);
    double mini = ar[b.items.front()], maxi = ar[b.items.back()];
    double sh = 1, sw = 1;
    if (maxi < 1) sh = maxi;
    else if (mini > 1) sw = 1 / mini;
    b.height = static_cast<int>(std::ceil(sh * img / stride + pad)) * stride;
    b.width = static_cast<int>(std::ceil(sw * img / stride + pad)) * stride;
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace yv9::vision
