# Builds tests/package/consumer against dstm, either installed (MODE=find_package) or
# vendored (MODE=add_subdirectory), and runs it.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

set(consumer "${SOURCE_DIR}/tests/package/consumer")
if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/dstm-build"
      -DDSTM_BUILD_TESTS=OFF -DDSTM_BUILD_BENCHMARKS=OFF -DDSTM_BUILD_EXAMPLES=OFF
      -DDSTM_BUILD_TOOLS=OFF "-DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix")
  run(${CMAKE_COMMAND} --install "${WORK_DIR}/dstm-build")
  run(${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/consumer-build"
      -DDSTM_CONSUME=find_package "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
else()
  run(${CMAKE_COMMAND} -S "${consumer}" -B "${WORK_DIR}/consumer-build"
      -DDSTM_CONSUME=add_subdirectory "-DDSTM_SOURCE_DIR=${SOURCE_DIR}")
endif()
run(${CMAKE_COMMAND} --build "${WORK_DIR}/consumer-build")
run("${WORK_DIR}/consumer-build/consumer")
message(STATUS "consumer built and ran with ${MODE}")
