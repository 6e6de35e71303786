# Fake vendor libraries for the hardware detector tests (tests/unit/hardware/): each variant is a tiny C shared
# library with the real file name, in its own directory under ${CMAKE_BINARY_DIR}/tests/fakes/<variant>/, found
# by the detectors through ProbeEnv::lib_dirs (IA_LIB_PATH for the CLI).
set(IA_FAKE_LIB_DIR ${CMAKE_BINARY_DIR}/tests/fakes)
set(IA_FAKE_SRC ${CMAKE_CURRENT_SOURCE_DIR}/fakes)
set(IA_FAKE_TARGETS)

function(ia_fake_library variant file_name source)
  set(target ia_fake_${variant}_${file_name})
  string(MAKE_C_IDENTIFIER ${target} target)
  add_library(${target} SHARED ${IA_FAKE_SRC}/${source})
  set_target_properties(${target} PROPERTIES PREFIX "" SUFFIX "" OUTPUT_NAME ${file_name}
    LIBRARY_OUTPUT_DIRECTORY ${IA_FAKE_LIB_DIR}/${variant} C_VISIBILITY_PRESET default)
  target_compile_definitions(${target} PRIVATE ${ARGN})
  set(IA_FAKE_TARGETS ${IA_FAKE_TARGETS} ${target} PARENT_SCOPE)
endfunction()

ia_fake_library(cuda_two libcuda.so.1 fake_cuda.c)
ia_fake_library(cuda_two libcublas.so.13 fake_cublas.c)
ia_fake_library(cuda_zero libcuda.so.1 fake_cuda.c FAKE_DEVICES=0)
ia_fake_library(cuda_initfail libcuda.so.1 fake_cuda.c FAKE_INIT_RESULT=100)
ia_fake_library(cuda_nosym libcuda.so.1 fake_cuda.c FAKE_OMIT_DEVICE_COUNT)
ia_fake_library(cuda_crash libcuda.so.1 fake_cuda.c FAKE_INIT_CRASH)
ia_fake_library(cuda_hang libcuda.so.1 fake_cuda.c FAKE_INIT_HANG)
ia_fake_library(cuda_old libcuda.so.1 fake_cuda.c FAKE_DRIVER_VERSION=11080)
ia_fake_library(hip_one libamdhip64.so fake_hip.c)
ia_fake_library(hip_initfail libamdhip64.so fake_hip.c FAKE_INIT_RESULT=100)
ia_fake_library(ov_two libopenvino_c.so fake_openvino.c)
ia_fake_library(ov_nodev libopenvino_c.so fake_openvino.c FAKE_NO_DEVICES)
ia_fake_library(ov_nocore libopenvino_c.so fake_openvino.c FAKE_OMIT_CORE)
ia_fake_library(qnn_cpu libQnnCpu.so fake_qnn.c)
ia_fake_library(qnn_htp libQnnHtp.so fake_qnn.c FAKE_BACKEND_ID=6 FAKE_PROVIDER_NAME="FAKE_QNN_HTP")

add_dependencies(ia_unit_tests ${IA_FAKE_TARGETS})
target_compile_definitions(ia_unit_tests PRIVATE IA_FAKE_LIB_DIR="${IA_FAKE_LIB_DIR}")
