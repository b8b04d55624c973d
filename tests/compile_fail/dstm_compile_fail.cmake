# dstm_compile_fail(<name> SOURCE <file.cpp> EXPECT <regex> [LIBS <targets...>])
#
# Adds the CTest test compile_fail.<name> (label compile_fail). It passes only if <file.cpp>,
# compiled exactly as dstm's own programs are (dstm::dstm, the warning flags, -Werror when
# DSTM_WERROR is on, plus LIBS), FAILS to compile and the compiler's output matches <regex>
# (a CMake regular expression; `.` also matches newlines, so it may span the "with T = ..."
# context line and the static_assert sentence).
#
# The file is an EXCLUDE_FROM_ALL object library, so a normal build never tries it; the test
# builds that target with `cmake --build` and inspects the result (run_compile_fail.cmake).
# The tests share a RESOURCE_LOCK so that two never drive the build tree at once.
#
# Usable from any CMakeLists.txt of the project:
#   include("${PROJECT_SOURCE_DIR}/tests/compile_fail/dstm_compile_fail.cmake")
#   dstm_compile_fail(ref_without_serializer SOURCE ref_bad.cpp
#                     EXPECT "dstm: S cannot serialize T")
# or put the cases in a folder tests/compile_fail/<area>/ with its own CMakeLists.txt.
include_guard(GLOBAL)

set(DSTM_COMPILE_FAIL_DRIVER "${CMAKE_CURRENT_LIST_DIR}/run_compile_fail.cmake"
    CACHE INTERNAL "the script a compile_fail test runs")

function(dstm_compile_fail name)
  # PARSE_ARGV keeps the semicolons of a regex such as "S = x; T = y" inside one argument.
  cmake_parse_arguments(PARSE_ARGV 1 CF "" "SOURCE;EXPECT" "LIBS")
  if(CF_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "dstm_compile_fail(${name}): unknown arguments ${CF_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT CF_SOURCE OR "${CF_EXPECT}" STREQUAL "")
    message(FATAL_ERROR "dstm_compile_fail(${name}): SOURCE and a non-empty EXPECT are required")
  endif()
  get_filename_component(_source "${CF_SOURCE}" ABSOLUTE)
  if(NOT EXISTS "${_source}")
    message(FATAL_ERROR "dstm_compile_fail(${name}): ${_source} does not exist")
  endif()
  string(MAKE_C_IDENTIFIER "compile_fail_${name}" _target)
  if(TARGET ${_target})
    message(FATAL_ERROR "dstm_compile_fail(${name}): the name is taken")
  endif()
  add_library(${_target} OBJECT EXCLUDE_FROM_ALL "${_source}")
  target_link_libraries(${_target} PRIVATE dstm::dstm dstm_warnings ${CF_LIBS})

  # The regex goes through a file: on a command line its ;, \ and quotes would be mangled.
  set(_expect_file "${CMAKE_CURRENT_BINARY_DIR}/${_target}.expect")
  file(WRITE "${_expect_file}" "${CF_EXPECT}")
  add_test(NAME compile_fail.${name}
           COMMAND "${CMAKE_COMMAND}"
                   "-DBINARY_DIR=${PROJECT_BINARY_DIR}"
                   "-DTARGET=${_target}"
                   "-DCONFIG=$<CONFIG>"
                   "-DSOURCE=${_source}"
                   "-DEXPECT_FILE=${_expect_file}"
                   -P "${DSTM_COMPILE_FAIL_DRIVER}")
  set_tests_properties(compile_fail.${name} PROPERTIES
    LABELS compile_fail
    RESOURCE_LOCK dstm_compile_fail_build
    TIMEOUT 300)
endfunction()
