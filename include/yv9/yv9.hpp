// yv9 — header-only YOLOv9 / GELAN / Mobile-MQA inference on the CPU.
//
// Short manual
//   auto m = yv9::model::load_model<float>("model.bin");      // weight file from pt2bin (config inside)
//   yv9::Context ctx; ctx.threads = 2;                         // 0 = all cores
//   yv9::Tensor<float> pred = m.net.forward(x, ctx);           // x: (N, 3, H, W) RGB in [0, 1]
//   // pred: (N, 4+nc, A) = xywh (centre, size, input pixels) + class scores, the tensor upstream
//   // feeds into NMS (main branch of dual heads).
//
// Pieces: core/ (Tensor, View, errors), ops/ (kernels), io/ (weight file, .pt reader, yaml, npy,
// json), nn/ (modules), model/ (builder, network, loader), vision/ (images, letterbox, NMS).
// Every error is a yv9::Error subclass whose message names the file or item and the problem.
// A loaded Network is immutable: forward() is const and may run from several threads at once.
#pragma once

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"
#include "core/view.hpp"
#include "io/checkpoint.hpp"
#include "io/npy.hpp"
#include "io/weightfile.hpp"
#include "model/loader.hpp"
