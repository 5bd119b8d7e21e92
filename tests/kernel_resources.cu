// Build-time check of the device kernels' resources: this translation unit instantiates every
// kernel of the default policies (tree, exact and BLAKE3; as_stored, to_bf16 and to_f32; SGLang's),
// and
// ptxas, run with
// --warn-on-spills --warning-as-error, fails the build if any of them spills registers to local
// memory. The tuning in detail/device_tuning.cuh (blocks per SM, hence registers per thread)
// assumes none; a change that breaks that assumption must revisit the tuning.
#include <tensorhash/device.cuh>
#include <tensorhash/sglang_device.cuh>

namespace th = tensorhash;

template class th::device_plan<th::tree, th::as_stored>;
template class th::device_plan<th::tree, th::to_bf16>;
template class th::device_plan<th::tree, th::to_f32>;
template class th::device_plan<th::exact, th::as_stored>;
template class th::device_plan<th::exact, th::to_bf16>;
template class th::device_plan<th::exact, th::to_f32>;
template class th::device_plan<th::exact, th::as_stored, th::blake3>;
template class th::device_plan<th::exact, th::to_bf16, th::blake3>;
template class th::device_plan<th::exact, th::to_f32, th::blake3>;

// SGLang's checksum kernels, instantiated through the plan's hash.
cudaError_t sglang_kernels(const th::sglang_device_plan& plan, void* temp, std::size_t& bytes,
                           std::uint64_t* out) {
  return plan.hash(temp, bytes, out, nullptr);
}
