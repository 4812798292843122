// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary bytes through our image loader (vision::decode_image: signature
// sniffing, the JPEG/PNG/BMP container walk, EXIF orientation, stb_image decoding under our size
// limits), then letterbox and to_tensor as detect --source does. Any yv9::Error is an accepted
// outcome; crashes, sanitizer reports (inside stb too), leaks, timeouts and memory blow-ups are bugs.
// Limits are smaller than the defaults so that one input decodes in milliseconds.
#include <yv9/vision/decode.hpp>
#include <yv9/vision/letterbox.hpp>

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  yv9::vision::ImageLimits lim;
  lim.max_width = 4096;
  lim.max_height = 4096;
  lim.max_pixels = std::int64_t(1) << 20;
  try {
    const yv9::vision::Image im = yv9::vision::decode_image(data, size, "fuzz.img", lim);
    if (im.bgr.size() != static_cast<std::size_t>(im.width) * static_cast<std::size_t>(im.height) * 3) __builtin_trap();
    yv9::vision::LetterboxOptions o;
    o.width = o.height = 64;
    const yv9::vision::Letterboxed lb = yv9::vision::letterbox(im, o);
    const yv9::Tensor<float> t = yv9::vision::to_tensor(lb.image);
    if (t.size() != std::int64_t(3) * lb.image.width * lb.image.height) __builtin_trap();
  } catch (const yv9::Error&) {
  }
  return 0;
}
