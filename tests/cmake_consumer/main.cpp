// SPDX-License-Identifier: MIT
#include <yv9/yv9.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto m = yv9::model::load_model<float>(argv[1]);
  std::printf("%lld parameters\n", static_cast<long long>(m.net.params()));
  return m.net.params() > 0 ? 0 : 1;
}
