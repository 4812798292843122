// SPDX-License-Identifier: MIT
// The PyTorch side, opt-in: reading `torch.save` checkpoints (.pt: zip + an inert unpickler) and
// writing yv9 weight files. What `pt2bin` is built on; inference never needs it.
//
//   yv9::io::Checkpoint ck = yv9::io::read_checkpoint("best.pt");   // tensors + metadata (yaml, names, eps)
//   yv9::io::write_weight_file("best.bin", ck.tensors, ck.metadata);
#pragma once

#include "io/checkpoint.hpp"
#include "io/weightfile.hpp"
