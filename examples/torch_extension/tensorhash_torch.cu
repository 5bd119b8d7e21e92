// A PyTorch extension: torch.ops.tensorhash.digests(tensors, mode, chunk_bytes, canonical)
// returns a uint8 tensor [n, 32] of digests, hashed on the tensors' device (CUDA: on the current
// stream; CPU: on a thread pool). Built and checked by test_torch_extension.py.
#include <tensorhash/tensorhash.hpp>

#include <ATen/cuda/CUDAContext.h>
#include <torch/library.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace th = tensorhash;

namespace {

th::dtype dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kDouble:
      return th::dtype::F64;
    case at::kFloat:
      return th::dtype::F32;
    case at::kHalf:
      return th::dtype::F16;
    case at::kBFloat16:
      return th::dtype::BF16;
    case at::kFloat8_e4m3fn:
      return th::dtype::F8_E4M3;
    case at::kFloat8_e5m2:
      return th::dtype::F8_E5M2;
    case at::kLong:
      return th::dtype::I64;
    case at::kInt:
      return th::dtype::I32;
    case at::kShort:
      return th::dtype::I16;
    case at::kChar:
      return th::dtype::I8;
    case at::kUInt64:
      return th::dtype::U64;
    case at::kUInt32:
      return th::dtype::U32;
    case at::kUInt16:
      return th::dtype::U16;
    case at::kByte:
      return th::dtype::U8;
    case at::kBool:
      return th::dtype::BOOL;
    default:
      TORCH_CHECK(false, "tensorhash: unsupported dtype ", t);
  }
  return th::dtype::U8;
}

}  // namespace

/// torch::Tensor becomes a tensorhash view: pointer, dtype, sizes, strides, device.
template <>
struct tensorhash::view_traits<at::Tensor> {
  static tensor_view to_view(const at::Tensor& t) {
    const auto where = t.is_cuda() ? location::cuda(t.get_device()) : location::host();
    return tensor_view(t.numel() == 0 ? nullptr : t.data_ptr(), dtype_of(t.scalar_type()),
                       static_cast<int>(t.dim()), t.sizes().data(), t.strides().data(), where);
  }
};

namespace {

template <class Mode, class Canon>
at::Tensor digests_impl(const std::vector<at::Tensor>& tensors, Mode mode) {
  std::vector<th::tensor_view> views;
  for (const auto& t : tensors)
    views.push_back(th::make_view(t));
  const bool cuda = !tensors.empty() && tensors[0].is_cuda();
  auto out = at::empty({static_cast<std::int64_t>(tensors.size()), 32},
                       at::TensorOptions().dtype(at::kByte).device(cuda ? tensors[0].device()
                                                                        : at::Device(at::kCPU)));
  auto* d = reinterpret_cast<th::digest256*>(out.data_ptr());
  if (cuda) {
    const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
    const th::device_plan<Mode, Canon> plan(views, mode, stream);
    std::size_t bytes = 0;
    TENSORHASH_CUDA_TRY(plan.hash(nullptr, bytes, d, stream));
    auto temp = at::empty({static_cast<std::int64_t>(bytes)},
                          at::TensorOptions().dtype(at::kByte).device(tensors[0].device()));
    TENSORHASH_CUDA_TRY(plan.hash(temp.data_ptr(), bytes, d, stream));
  } else {
    th::host_engine<Mode, Canon>(mode).hash(views.data(), views.size(), d);
  }
  return out;
}

template <class Canon>
at::Tensor digests_mode(const std::vector<at::Tensor>& tensors, const std::string& mode,
                        std::int64_t chunk_bytes) {
  if (mode == "exact")
    return digests_impl<th::exact, Canon>(tensors, th::exact{});
  TORCH_CHECK(mode == "tree", "tensorhash: mode must be 'exact' or 'tree'");
  return digests_impl<th::tree, Canon>(tensors, th::tree(static_cast<std::uint64_t>(chunk_bytes)));
}

at::Tensor digests(const std::vector<at::Tensor>& tensors, const std::string& mode,
                   std::int64_t chunk_bytes, const std::string& canonical) {
  try {
    if (canonical == "BF16")
      return digests_mode<th::to_bf16>(tensors, mode, chunk_bytes);
    if (canonical == "F32")
      return digests_mode<th::to_f32>(tensors, mode, chunk_bytes);
    TORCH_CHECK(canonical.empty(), "tensorhash: canonical must be '', 'BF16' or 'F32'");
    return digests_mode<th::as_stored>(tensors, mode, chunk_bytes);
  } catch (const th::error& e) {
    TORCH_CHECK(false, e.what());
  }
  return {};
}

}  // namespace

TORCH_LIBRARY(tensorhash, m) {
  m.def("digests(Tensor[] tensors, str mode, int chunk_bytes, str canonical) -> Tensor", &digests);
}
