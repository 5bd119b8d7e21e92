# tensorhash_python_device_library(TARGET INCLUDE_DIR): the static library of the Python module's
# CUDA bridge (src/device.cu, device_plan behind the plain C++ interface of src/device.hpp). The
# module's build (CMakeLists.txt here) compiles it with nanobind's host-only options kept away
# from nvcc; the GPU bundle (scripts/build-bundle) compiles it on a CPU machine, so that a GPU
# machine builds the module without compiling device code (TENSORHASH_PYTHON_DEVICE_LIBRARY).
function(tensorhash_python_device_library target include_dir)
  add_library(${target} STATIC ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/src/device.cu)
  set_target_properties(${target} PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    CUDA_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    CUDA_RUNTIME_LIBRARY Static)
  target_compile_features(${target} PRIVATE cuda_std_17)
  target_include_directories(${target} PRIVATE "${include_dir}")
  target_link_libraries(${target} PRIVATE CUDA::cudart_static)
  if(TARGET CCCL::CCCL)
    target_link_libraries(${target} PRIVATE CCCL::CCCL)
  endif()
endfunction()
