# targets.cmake: the fuzz targets and the sources each needs beyond the library; included by
# tests/fuzz/CMakeLists.txt (libFuzzer builds) and tests/CMakeLists.txt (fuzz_replay).
set(TFMQ_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
set(TFMQ_FUZZ_TARGETS fuzz_onnx fuzz_onnx_run fuzz_engine fuzz_tensor_pb fuzz_npy fuzz_image
    fuzz_calib_cache fuzz_tf_savedmodel fuzz_tf_bundle fuzz_keras fuzz_keras_config
    fuzz_plan_cache)
set(TFMQ_FUZZ_CLI ${CMAKE_SOURCE_DIR}/tools/tfmq)
set(TFMQ_FUZZ_EXTRA_fuzz_npy ${TFMQ_FUZZ_CLI}/npy.c ${TFMQ_FUZZ_CLI}/cli_util.c)
set(TFMQ_FUZZ_EXTRA_fuzz_image ${TFMQ_FUZZ_CLI}/image.c ${TFMQ_FUZZ_CLI}/cli_util.c)

# Add executable `exe` built from fuzz target `t` plus `extra` sources (replay_main.c or none).
function(tfmq_fuzz_exe exe t)
  add_executable(${exe} ${TFMQ_FUZZ_DIR}/${t}.c ${TFMQ_FUZZ_EXTRA_${t}} ${ARGN})
  target_include_directories(${exe} PRIVATE ${TFMQ_FUZZ_DIR} ${TFMQ_FUZZ_CLI}
                             $<TARGET_PROPERTY:tfmq_obj,INCLUDE_DIRECTORIES>)
  target_compile_options(${exe} PRIVATE ${TFMQ_WARNINGS})
  target_link_libraries(${exe} PRIVATE tfmq_static m)
  if(t STREQUAL "fuzz_image")
    target_link_libraries(${exe} PRIVATE JPEG::JPEG PNG::PNG)
  endif()
  add_dependencies(${exe} tfmq_onnx_pb)
endfunction()
