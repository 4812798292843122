// SPDX-License-Identifier: MIT
// What `detect --source X` means, as upstream's detect.py reads it:
//   an image or video file (by extension) · a folder (its images and videos, sorted by name)
//   a glob pattern ("shots/*.jpg", sorted) · a .txt file with one path per line · "-" (paths on stdin)
//   a V4L2 camera ("/dev/video0", or "0") · a network stream (rtsp/rtmp/udp/tcp/srt/http(s) URL)
// Cameras and streams are live: frames that arrive while the network is busy are dropped (only the
// newest is kept). An http(s) URL naming a video file (".mp4" ...) is read as a file, every frame.
#pragma once
#include <yv9/core/error.hpp>
#include <yv9/vision/output.hpp>

#include <dirent.h>
#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace yv9tool {

enum class SourceKind { Image, Video, Camera, Stream };

struct Source {
  std::string path;  // as given (camera "0" becomes "/dev/video0")
  SourceKind kind = SourceKind::Image;
  bool live() const { return kind == SourceKind::Camera || kind == SourceKind::Stream; }
  bool video() const { return kind != SourceKind::Image; }
};

inline bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

inline bool has_image_extension(const std::string& name) {
  const std::string e = yv9::vision::detail::lower_extension(name);
  return e == "jpg" || e == "jpeg" || e == "png" || e == "bmp";
}

// upstream's VID_FORMATS plus the common containers FFmpeg reads
inline bool has_video_extension(const std::string& name) {
  static const char* const exts[] = {"asf", "avi", "gif", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "ts",  "wmv",
                                     "webm", "flv", "3gp", "ogv", "mts", "m2ts", "y4m", "mxf", "nut", "vob"};
  const std::string e = yv9::vision::detail::lower_extension(name);
  return std::find(std::begin(exts), std::end(exts), e) != std::end(exts);
}

inline bool is_url(const std::string& s) {
  static const char* const schemes[] = {"rtsp://", "rtsps://", "rtmp://", "rtmps://", "udp://", "rtp://", "tcp://",
                                        "srt://",  "http://",  "https://"};
  for (const char* p : schemes)
    if (s.rfind(p, 0) == 0) return true;
  return false;
}

inline bool is_camera_index(const std::string& s) {
  return !s.empty() && s.size() <= 3 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The name outputs are called after: file stem; "video0" for /dev/video0; the URL with every
// character outside [A-Za-z0-9._-] replaced by '_' for streams ("udp_127.0.0.1_5000").
inline std::string output_stem(const Source& s) {
  if (s.kind == SourceKind::Stream) {
    std::string t = s.path.substr(s.path.find("://") + 3);
    std::string scheme = s.path.substr(0, s.path.find("://"));
    t = scheme + "_" + t;
    for (char& c : t)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) c = '_';
    while (!t.empty() && t.back() == '_') t.pop_back();
    return t.size() > 100 ? t.substr(0, 100) : t;
  }
  const std::string b = s.path.substr(s.path.find_last_of('/') + 1);
  if (s.kind == SourceKind::Camera) return b;
  const std::size_t dot = b.rfind('.');
  return dot == std::string::npos || dot == 0 ? b : b.substr(0, dot);
}

namespace detail {

inline void add_path(const std::string& p, std::vector<Source>& out, int depth);

inline void add_folder(const std::string& dir, std::vector<Source>& out) {
  std::vector<std::string> files;
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw yv9::IoError(dir + ": cannot read the directory (" + std::strerror(errno) + ")");
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == ".." || !(has_image_extension(n) || has_video_extension(n))) continue;
    const std::string path = dir + (dir.back() == '/' ? "" : "/") + n;
    if (!is_dir(path)) files.push_back(path);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  if (files.empty()) throw yv9::IoError(dir + ": no images (.jpg, .jpeg, .png, .bmp) or videos in this directory");
  for (const auto& f : files) out.push_back({f, has_video_extension(f) ? SourceKind::Video : SourceKind::Image});
}

inline void add_list(std::istream& in, const std::string& what, std::vector<Source>& out, int depth) {
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    std::size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    add_path(line.substr(b), out, depth + 1);
    ++n;
  }
  if (n == 0) throw yv9::IoError(what + ": the list of sources is empty");
}

inline void add_path(const std::string& p, std::vector<Source>& out, int depth) {
  if (p.empty()) throw yv9::UsageError("--source is empty");
  if (depth > 4) throw yv9::IoError(p + ": source lists nested deeper than 4");
  if (is_url(p)) {
    const std::string path_part = p.substr(0, p.find_first_of("?#"));
    const bool file_url = (p.rfind("http", 0) == 0) && has_video_extension(path_part);
    out.push_back({p, file_url ? SourceKind::Video : SourceKind::Stream});
    return;
  }
  if (is_camera_index(p)) {
    out.push_back({"/dev/video" + std::to_string(std::stoi(p)), SourceKind::Camera});
    return;
  }
  if (p.rfind("/dev/video", 0) == 0) {
    out.push_back({p, SourceKind::Camera});
    return;
  }
  if (p == "-") {
    if (depth > 0) throw yv9::IoError("'-' (read the list from stdin) inside a list");
    add_list(std::cin, "stdin", out, depth);
    return;
  }
  if (is_dir(p)) return add_folder(p, out);
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) {
    if (p.find_first_of("*?[") != std::string::npos) {
      glob_t g;
      const int rc = ::glob(p.c_str(), 0, nullptr, &g);  // glob sorts its results
      std::vector<std::string> hits;
      if (rc == 0)
        for (std::size_t i = 0; i < g.gl_pathc; ++i) hits.push_back(g.gl_pathv[i]);
      ::globfree(&g);
      std::size_t added = 0;
      for (const auto& h : hits)
        if (!is_dir(h) && (has_image_extension(h) || has_video_extension(h))) {
          out.push_back({h, has_video_extension(h) ? SourceKind::Video : SourceKind::Image});
          ++added;
        }
      if (added == 0) throw yv9::IoError(p + ": the pattern matches no images or videos");
      return;
    }
    throw yv9::IoError(p + ": no such file or directory");
  }
  if (yv9::vision::detail::lower_extension(p) == "txt") {
    std::ifstream f(p);
    if (!f) throw yv9::IoError(p + ": cannot read the list of sources");
    return add_list(f, p, out, depth);
  }
  out.push_back({p, has_video_extension(p) ? SourceKind::Video : SourceKind::Image});
}

}  // namespace detail

inline std::vector<Source> list_sources(const std::string& spec) {
  std::vector<Source> out;
  detail::add_path(spec, out, 0);
  return out;
}

// --shard K/N: the K-th (1-based) of N deterministic slices of the name-sorted list: items
// K-1, K-1+N, K-1+2N, ... (round robin, so that large files that sort together spread out).
inline std::vector<Source> shard(std::vector<Source> all, int k, int n) {
  std::stable_sort(all.begin(), all.end(), [](const Source& a, const Source& b) { return a.path < b.path; });
  std::vector<Source> mine;
  for (std::size_t i = static_cast<std::size_t>(k - 1); i < all.size(); i += static_cast<std::size_t>(n)) mine.push_back(all[i]);
  return mine;
}

}  // namespace yv9tool
