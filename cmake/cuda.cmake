# cuda.cmake: the CUDA backend (src/backends/cuda, cuda.h). TFMQ_CUDA=AUTO builds it when nvcc,
# cuDNN 9 and cuBLASLt are found, ON requires them, OFF skips it. When built, TFMQ_HAVE_CUDA is
# defined for the library and the tests; without a GPU at run time the backend reports
# "no CUDA device" and the GPU tests skip.
#   .c files: host code (the CUDA exec, cuDNN graph and cuBLASLt wrappers), compiled as C11 with
#             our warnings against the toolkit's C headers;
#   .cu files: our CUDA kernels, compiled by nvcc for TFMQ_CUDA_ARCHS.
set(TFMQ_HAVE_CUDA OFF)
set(TFMQ_CUDA_ARCHS "80;90" CACHE STRING "CUDA architectures of the kernels (sm_80 and sm_90)")
# Sanitizer and fuzz builds leave it out under AUTO (nvcc takes no -fsanitize, and the CUDA
# runtime's mappings trip ASan); the release build of every CI run compiles it.
if(TFMQ_CUDA STREQUAL "AUTO" AND (TFMQ_SANITIZE OR TFMQ_BUILD_FUZZ))
  message(STATUS "tfmq: CUDA backend off in sanitizer and fuzz builds")
elseif(NOT TFMQ_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  find_path(CUDNN_INCLUDE cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  find_library(CUDNN_LIB cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND CUDNN_INCLUDE AND CUDNN_LIB
     AND TARGET CUDA::cublasLt)
    set(TFMQ_HAVE_CUDA ON)
  elseif(TFMQ_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TFMQ_CUDA=ON but nvcc, cuDNN or cuBLASLt was not found")
  else()
    message(STATUS "tfmq: CUDA backend off (no nvcc, cuDNN or cuBLASLt found)")
  endif()
endif()

if(TFMQ_HAVE_CUDA)
  set(CMAKE_CUDA_ARCHITECTURES ${TFMQ_CUDA_ARCHS})
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  file(GLOB TFMQ_CUDA_C CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backends/cuda/*.c)
  list(FILTER TFMQ_CUDA_C EXCLUDE REGEX "/plan_cache\\.c$") # always built (CMakeLists.txt)
  file(GLOB TFMQ_CUDA_CU CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backends/cuda/*.cu)
  list(APPEND TFMQ_SOURCES ${TFMQ_CUDA_C})
  add_compile_definitions(TFMQ_HAVE_CUDA=1)
  message(STATUS "tfmq: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${TFMQ_CUDA_ARCHS})")
endif()

# Called once the libraries exist: the kernels' object library and the CUDA link.
function(tfmq_cuda_link)
  if(NOT TFMQ_HAVE_CUDA)
    return()
  endif()
  target_include_directories(tfmq_obj SYSTEM PUBLIC ${CUDAToolkit_INCLUDE_DIRS} ${CUDNN_INCLUDE})
  set(libs CUDA::cudart_static CUDA::cublasLt ${CUDNN_LIB})
  target_link_libraries(tfmq_static PUBLIC ${libs})
  target_link_libraries(tfmq PRIVATE ${libs})
  if(NOT TFMQ_CUDA_CU)
    return()
  endif()
  add_library(tfmq_cuda_kernels OBJECT ${TFMQ_CUDA_CU})
  target_include_directories(tfmq_cuda_kernels PRIVATE ${CMAKE_SOURCE_DIR}/include
                             ${CMAKE_SOURCE_DIR}/src ${TFMQ_GEN}/onnx ${PROTOBUF_C_INCLUDE})
  # Device code: no fast-math; -lineinfo for compute-sanitizer and profilers.
  target_compile_options(tfmq_cuda_kernels PRIVATE -lineinfo -Xcompiler=-fvisibility=hidden
                         $<$<BOOL:${TFMQ_WERROR}>:-Werror=all-warnings>)
  set_target_properties(tfmq_cuda_kernels PROPERTIES POSITION_INDEPENDENT_CODE ON)
  add_dependencies(tfmq_cuda_kernels tfmq_onnx_pb)
  target_sources(tfmq_static PRIVATE $<TARGET_OBJECTS:tfmq_cuda_kernels>)
  target_sources(tfmq PRIVATE $<TARGET_OBJECTS:tfmq_cuda_kernels>)
endfunction()

# bench/gpu_run.c: runs and times one model on the GPU (bench/gpu_bench.py drives it).
function(tfmq_cuda_tools)
  if(NOT TFMQ_HAVE_CUDA)
    return()
  endif()
  add_executable(tfmq_gpu_run ${CMAKE_SOURCE_DIR}/bench/gpu_run.c
                 ${CMAKE_SOURCE_DIR}/tools/tfmq/npy.c ${CMAKE_SOURCE_DIR}/tools/tfmq/cli_util.c)
  target_include_directories(tfmq_gpu_run PRIVATE ${CMAKE_SOURCE_DIR}/tools/tfmq
                             $<TARGET_PROPERTY:tfmq_obj,INCLUDE_DIRECTORIES>)
  target_compile_options(tfmq_gpu_run PRIVATE ${TFMQ_WARNINGS})
  target_link_libraries(tfmq_gpu_run PRIVATE tfmq_static m)
endfunction()
