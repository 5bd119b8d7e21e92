// Plain g++ consumer of the installed headers: hashes "abc" in exact mode, prints the digest.
#include <tensorhash/tensorhash.hpp>

#include <cstdio>

int main() {
  const char abc[] = "abc";
  const tensorhash::tensor_view v(abc, tensorhash::dtype::U8, {3});
  std::printf("%s\n", tensorhash::host_hash<tensorhash::exact>(v).to_hex().c_str());
  return 0;
}
