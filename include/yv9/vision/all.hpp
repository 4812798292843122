// SPDX-License-Identifier: MIT
// yv9::vision — everything around the network, reproducing upstream YOLOv9's detect pipeline
// (cv2 + torch + torchvision) bit for bit where upstream is deterministic. Detector (detector.hpp)
// runs all of it; the steps below are what it does, for users who need to change one.
//
//   Image im = load_image("bus.jpg");                  // decode.hpp: cv2.imread (BGR, EXIF orientation)
//   LetterboxOptions lo;  lo.auto_pad = true;           // letterbox.hpp: letterbox(im, 640, stride=32, auto)
//   Letterboxed lb = letterbox(im, lo);
//   Tensor<float> x = to_tensor(lb.image);              // (1, 3, H, W) RGB / 255
//   Tensor<float> pred = /* network: (1, 4 + nc, A) */;
//   NmsOptions no;  no.max_det = 1000;                  // nms.hpp: non_max_suppression
//   std::vector<Detection> det = non_max_suppression(pred, no)[0];
//   scale_boxes(lb.image.height, lb.image.width, im.height, im.width, det);
//   round_boxes(det);                                   // detect.py's .round()
//   draw_detections(im, det, names);  write_image("out/bus.jpg", im);   // draw.hpp, output.hpp
//   write_yolo_labels("out/labels/bus.txt", det, im.width, im.height, /*save_conf=*/true);
//   write_detections_json("out/bus.json", "bus.jpg", im.width, im.height, det, names);
//
// Validation (val.py): validate.hpp runs a data set (dataset.hpp: data yaml, images, labels)
// through the network and scores it (metrics.hpp: matching, AP, P/R at the best F1).
//
// Errors: FormatError / LimitError / IoError / UsageError (core/error.hpp), message starts with
// the file name. Only the network's forward pass uses threads.
#pragma once
#include "dataset.hpp"
#include "decode.hpp"
#include "detector.hpp"
#include "draw.hpp"
#include "exif.hpp"
#include "font.hpp"
#include "image.hpp"
#include "letterbox.hpp"
#include "metrics.hpp"
#include "nms.hpp"
#include "output.hpp"
#include "resize.hpp"
#include "validate.hpp"
