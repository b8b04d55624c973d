# Runs one compile_fail test: builds TARGET in BINARY_DIR and succeeds only if the build fails
# with output matching the regex in EXPECT_FILE. See dstm_compile_fail.cmake.
foreach(_var BINARY_DIR TARGET SOURCE EXPECT_FILE)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "run_compile_fail.cmake: -D${_var}=... is required")
  endif()
endforeach()
file(READ "${EXPECT_FILE}" _expect)

set(_config_args "")
if(CONFIG)
  set(_config_args --config "${CONFIG}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${BINARY_DIR}" --target "${TARGET}" ${_config_args}
  RESULT_VARIABLE _result
  OUTPUT_VARIABLE _output
  ERROR_VARIABLE _output)

if(_result EQUAL 0)
  message(FATAL_ERROR
    "compile_fail: ${SOURCE} compiled, but it must not.\n"
    "Expected a diagnostic matching: ${_expect}\n${_output}")
endif()
if(NOT _output MATCHES "${_expect}")
  message(FATAL_ERROR
    "compile_fail: ${SOURCE} failed to compile, but not with the expected diagnostic.\n"
    "Expected a match for: ${_expect}\nCompiler output:\n${_output}")
endif()
message(STATUS "compile_fail: ${SOURCE} was rejected with the expected diagnostic")
