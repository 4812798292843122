// SPDX-License-Identifier: MIT
// Writing results: annotated images (PNG/JPEG by extension), YOLO label files exactly as
// upstream detect.py --save-txt [--save-conf] writes them, and one JSON document per image.
// Every file is written atomically (temporary file in the same folder, then rename), so a crash
// or a full disk never leaves a half-written result under the final name.
//
// Label lines (detect.py): for each detection, lowest score first (it iterates reversed(det)):
//     cls xc yc w h [conf]      printed with '%g' (6 significant digits), space separated
// from the scaled *rounded* boxes, computed in float32 as torch does:
//     xc = ((x1 + x2) / 2) / W,  yc = ((y1 + y2) / 2) / H,  w = (x2 - x1) / W,  h = (y2 - y1) / H
// No file at all for an image without detections (upstream only opens it inside the loop).
#pragma once
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "image.hpp"
#include "../io/atomic_file.hpp"
#include "../io/json.hpp"
#include "nms.hpp"
#include "stb.hpp"

namespace yv9::vision {

namespace detail {

// printf-style formatting that ignores the C locale's decimal separator (Python's %g never
// uses a comma).
inline std::string format_c(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  for (char* p = buf; *p; ++p)
    if (*p == ',') *p = '.';
  return buf;
}

inline std::string lower_extension(const std::string& path) {
  const std::size_t slash = path.find_last_of("/\\");
  const std::size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot + 1);
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

inline void append_bytes(void* ctx, void* data, int size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(ctx);
  const auto* p = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

}  // namespace detail

// Atomic writes (temp file in the same folder, fsync, rename) come from the io layer.
using io::write_file_atomic;

// Encodes `im` as PNG or JPEG (quality 95, cv2.imwrite's default) chosen by the extension of
// `path_or_ext` (.png, .jpg, .jpeg). Throws UsageError for any other extension.
inline std::vector<std::uint8_t> encode_image(const Image& im, const std::string& path_or_ext, int jpeg_quality = 95) {
  if (im.empty()) throw UsageError(path_or_ext + ": cannot encode an empty image");
  const std::string ext = detail::lower_extension(path_or_ext.find('.') == std::string::npos ? "." + path_or_ext
                                                                                                : path_or_ext);
  std::vector<std::uint8_t> rgb(im.bgr.size());
  for (std::size_t i = 0; i + 2 < rgb.size(); i += 3)
    rgb[i] = im.bgr[i + 2], rgb[i + 1] = im.bgr[i + 1], rgb[i + 2] = im.bgr[i];
  std::vector<std::uint8_t> out;
  int ok = 0;
  if (ext == "png") {
    ok = stbi_write_png_to_func(detail::append_bytes, &out, im.width, im.height, 3, rgb.data(), im.width * 3);
  } else if (ext == "jpg" || ext == "jpeg") {
    ok = stbi_write_jpg_to_func(detail::append_bytes, &out, im.width, im.height, 3, rgb.data(), jpeg_quality);
  } else {
    throw UsageError(path_or_ext + ": unsupported output image type '" + ext + "' (use .jpg, .jpeg or .png)");
  }
  if (!ok || out.empty()) throw IoError(path_or_ext + ": image encoding failed");
  return out;
}

// Encodes and writes atomically; the format follows the file extension.
inline void write_image(const std::string& path, const Image& im, int jpeg_quality = 95) {
  const std::vector<std::uint8_t> bytes = encode_image(im, path, jpeg_quality);
  write_file_atomic(path, bytes.data(), bytes.size());
}

// One label line for detection `d` (box in original-image pixels, already rounded as detect.py
// does) of an image img_w x img_h, without the trailing newline.
inline std::string yolo_label_line(const Detection& d, int img_w, int img_h, bool save_conf) {
  const float gw = static_cast<float>(img_w), gh = static_cast<float>(img_h);
  const float xc = ((d.x1 + d.x2) / 2.0f) / gw;
  const float yc = ((d.y1 + d.y2) / 2.0f) / gh;
  const float w = (d.x2 - d.x1) / gw;
  const float h = (d.y2 - d.y1) / gh;
  std::string line = detail::format_c("%g", static_cast<double>(d.cls));
  for (float v : {xc, yc, w, h}) line += " " + detail::format_c("%g", static_cast<double>(v));
  if (save_conf) line += " " + detail::format_c("%g", static_cast<double>(d.conf));
  return line;
}

// The whole label file for one image, in upstream's line order ("" if there are no detections).
inline std::string yolo_labels(const std::vector<Detection>& dets, int img_w, int img_h, bool save_conf) {
  std::string text;
  for (auto it = dets.rbegin(); it != dets.rend(); ++it) text += yolo_label_line(*it, img_w, img_h, save_conf) + "\n";
  return text;
}

// Writes the label file; returns false (and writes nothing) when there are no detections.
inline bool write_yolo_labels(const std::string& path, const std::vector<Detection>& dets, int img_w, int img_h,
                              bool save_conf) {
  if (dets.empty()) return false;
  write_file_atomic(path, yolo_labels(dets, img_w, img_h, save_conf));
  return true;
}

// ---- JSON -------------------------------------------------------------------------------------

// JSON string literal (io::json_quote: escapes, invalid UTF-8 replaced so the output stays valid).
inline std::string json_string(const std::string& s) { return io::json_quote(s); }

// Shortest decimal that reads back as the same float32 ("null" for NaN/inf, which JSON lacks).
inline std::string json_number(float v) {
  if (!std::isfinite(v)) return "null";
  for (int prec = 6; prec <= 9; ++prec) {
    const std::string s = detail::format_c(("%." + std::to_string(prec) + "g").c_str(), static_cast<double>(v));
    if (std::strtof(s.c_str(), nullptr) == v) return s;
  }
  return detail::format_c("%.9g", static_cast<double>(v));
}

// {"image": ..., "width": W, "height": H, "detections": [{"class_id", "name", "confidence",
//  "box": [x1, y1, x2, y2]}, ...]} with detections in NMS order (best first).
inline std::string detections_json(const std::string& image_path, int img_w, int img_h,
                                   const std::vector<Detection>& dets, const std::vector<std::string>& names) {
  std::string j = "{\"image\": " + json_string(image_path) + ", \"width\": " + std::to_string(img_w) +
                  ", \"height\": " + std::to_string(img_h) + ", \"detections\": [";
  for (std::size_t i = 0; i < dets.size(); ++i) {
    const Detection& d = dets[i];
    const bool named = d.cls >= 0 && static_cast<std::size_t>(d.cls) < names.size();
    j += i ? ",\n  " : "\n  ";
    j += "{\"class_id\": " + std::to_string(d.cls) +
         ", \"name\": " + json_string(named ? names[static_cast<std::size_t>(d.cls)] : std::to_string(d.cls)) +
         ", \"confidence\": " + json_number(d.conf) + ", \"box\": [" + json_number(d.x1) + ", " + json_number(d.y1) +
         ", " + json_number(d.x2) + ", " + json_number(d.y2) + "]}";
  }
  j += dets.empty() ? "]}\n" : "\n]}\n";
  return j;
}

inline void write_detections_json(const std::string& path, const std::string& image_path, int img_w, int img_h,
                                  const std::vector<Detection>& dets, const std::vector<std::string>& names) {
  write_file_atomic(path, detections_json(image_path, img_w, img_h, dets, names));
}

}  // namespace yv9::vision
