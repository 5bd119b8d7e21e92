// nvcc consumer of the installed headers, device backend included; runs without a GPU too.
#include <tensorhash/tensorhash.hpp>

#include <cstdio>

int main() {
  const tensorhash::device_plan<tensorhash::tree> plan(std::vector<tensorhash::tensor_view>{});
  std::size_t bytes = 0;
  std::printf("%d\n", static_cast<int>(plan.hash(nullptr, bytes, nullptr, nullptr)));
  return 0;
}
