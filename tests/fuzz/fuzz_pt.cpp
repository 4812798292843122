// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary bytes through the whole .pt path (sniffing, ZIP, unpickler, tensor
// reconstruction, checkpoint layouts, yaml synthesis). Any yv9::Error is an accepted outcome;
// crashes, sanitizer reports, leaks and timeouts are bugs. CRC checks are off so that mutations
// reach the pickle and tensor code instead of stopping at the checksum; limits are small so that
// hostile sizes fail fast instead of exhausting the fuzzer's memory (the total tensor budget is
// the default one: 4 x the input size + 64 MiB).
#include <yv9/io/checkpoint.hpp>

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  yv9::io::PtLimits lim;
  lim.zip.verify_crc = false;
  lim.max_tensor_bytes = std::uint64_t(64) << 20;
  lim.pickle.max_objects = std::size_t(1) << 20;
  lim.pickle.max_items = std::size_t(1) << 22;
  try {
    const yv9::io::TorchArchive archive(std::vector<std::uint8_t>(data, data + size), "fuzz.pt", lim);
    const yv9::io::Checkpoint ck = yv9::io::read_checkpoint(archive);
    (void)ck;
  } catch (const yv9::Error&) {
  }
  return 0;
}
