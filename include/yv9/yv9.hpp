// SPDX-License-Identifier: MIT
// yv9 — header-only YOLOv9 / GELAN / Mobile-MQA inference on the CPU. Everything inference needs.
//
// Short manual
//   yv9::vision::Detector det("model.bin");                    // weight file from pt2bin (config inside)
//   yv9::vision::Image im = yv9::vision::load_image("photo.jpg");
//   for (const auto& d : det.detect(im).detections)            // boxes in photo pixels, best first
//     std::printf("%s %.2f\n", det.names()[d.cls].c_str(), d.conf);
//
//   // or the network alone:
//   auto m = yv9::model::load_model<float>("model.bin");
//   yv9::Context ctx; ctx.threads = 2;                         // 0 = all cores
//   yv9::Tensor<float> pred = m.net.forward(x, ctx);           // x: (N, 3, H, W) RGB in [0, 1]
//   // pred: (N, 4+nc, A) = xywh (centre, size, input pixels) + class scores, the tensor upstream
//   // feeds into NMS (main branch of dual heads).
//
// Layers, each including only those below it:
//   core/     Tensor, View, Context, errors          ops/  kernels (+ naive twins in reference.hpp)
//   io/       weight file, yaml, json, npy            weights/  binding by name, BN folding
//   nn/       the modules, named as in PyTorch        model/    builder (parse_model), network, loader
//   vision/   images, letterbox, NMS, Detector
// Converting .pt checkpoints is opt-in: <yv9/convert.hpp>.
// Every error is a yv9::Error subclass whose message names the file or item and the problem.
// A loaded Network is immutable: forward() is const and may run from several threads at once.
#pragma once

#include "version.hpp"
#include "core/error.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"
#include "core/view.hpp"
#include "io/npy.hpp"
#include "io/weightfile.hpp"
#include "model/loader.hpp"
#include "vision/all.hpp"
