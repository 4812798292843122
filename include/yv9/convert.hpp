// SPDX-License-Identifier: MIT
// The PyTorch side, opt-in: reading `torch.save` checkpoints (.pt: zip + an inert unpickler) and
// turning them into yv9 weight files. What `pt2bin` is built on; inference never needs it.
//
//   yv9::io::Checkpoint ck = yv9::io::read_checkpoint("best.pt");   // tensors + metadata (yaml, names, eps)
//   yv9::io::WeightFile wf = yv9::to_weight_file(ck, yv9::io::DType::F16, "best.pt", "best.bin");
//   yv9::io::write_file_atomic("best.bin", wf.bytes().data(), wf.bytes().size());
#pragma once
#include <string>
#include <utility>

#include "io/atomic_file.hpp"
#include "io/checkpoint.hpp"
#include "io/weightfile.hpp"
#include "model/loader.hpp"

namespace yv9 {

// The checkpoint's tensors as a weight file in memory, floating tensors stored as `dtype` (F32,
// F16 or BF16; integer tensors keep theirs), read back by the weight-file reader. When the metadata
// holds a config the file is then loaded exactly as `detect` loads it (model::load_model: every
// tensor bound by name and shape, none left over, class names counted), so a file that would not
// load is refused here, with the loader's own error. `in_label` names the checkpoint in errors,
// `out_label` the file to be written. Consumes ck.tensors.
inline io::WeightFile to_weight_file(io::Checkpoint& ck, io::DType dtype, const std::string& in_label,
                                     const std::string& out_label) {
  for (io::WriteTensor& t : ck.tensors) io::narrow_tensor(t, dtype, in_label);
  std::vector<std::uint8_t> bytes = io::weight_file_bytes(out_label, ck.tensors, ck.metadata);
  std::vector<io::WriteTensor>().swap(ck.tensors);  // the bytes hold them now
  io::WeightFile wf = io::WeightFile::parse(std::move(bytes), out_label);
  if (!wf.meta("config").empty()) {
    model::LoadOptions check;
    check.conv = ops::ConvAlgo::Im2col;  // the check binds; packing is cheapest on the im2col path
    model::load_model<float>(wf, in_label, check);
  }
  return wf;
}

}  // namespace yv9
