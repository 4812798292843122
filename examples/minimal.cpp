// SPDX-License-Identifier: MIT
// The library in a few lines: load a converted model once, detect objects in one image.
//   build/bin/minimal weights/gelan-t-mmqa-shapes.bin weights/samples/samples_00000.png
#include <yv9/yv9.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: minimal MODEL.bin IMAGE\n");
    return 2;
  }
  try {
    yv9::vision::DetectorOptions opt;
    opt.img = 160;  // the demo model was trained at 160 px
    const yv9::vision::Detector det(argv[1], opt);  // const: detect() may run from many threads
    const yv9::vision::Image im = yv9::vision::load_image(argv[2]);
    for (const yv9::vision::Detection& d : det.detect(im).detections)
      std::printf("%-10s %.3f  [%.1f, %.1f, %.1f, %.1f]\n", det.names()[d.cls].c_str(), d.conf, d.x1, d.y1, d.x2, d.y2);
  } catch (const yv9::Error& e) {
    std::fprintf(stderr, "minimal: %s\n", e.what());
    return 1;
  }
  return 0;
}
