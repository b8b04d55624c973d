# Finds the hiredis C client (Debian's libhiredis-dev) for <dstm/storage/redis.hpp> and defines
# the imported target dstm::hiredis, once per build (tests/redis, examples/group_move_redis and
# tests/headers include this file). pkg-config first, then a plain library search; when neither
# finds it, dstm::hiredis does not exist and the Redis storage's programs are skipped.
if(TARGET dstm::hiredis)
  return()
endif()
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(DSTM_HIREDIS QUIET hiredis)
endif()
find_path(DSTM_HIREDIS_INCLUDE_DIR hiredis/hiredis.h HINTS ${DSTM_HIREDIS_INCLUDEDIR})
find_library(DSTM_HIREDIS_LIBRARY hiredis HINTS ${DSTM_HIREDIS_LIBDIR})
if(DSTM_HIREDIS_INCLUDE_DIR AND DSTM_HIREDIS_LIBRARY)
  add_library(dstm::hiredis INTERFACE IMPORTED GLOBAL)
  target_include_directories(dstm::hiredis INTERFACE "${DSTM_HIREDIS_INCLUDE_DIR}")
  target_link_libraries(dstm::hiredis INTERFACE "${DSTM_HIREDIS_LIBRARY}")
  message(STATUS "dstm: hiredis found: ${DSTM_HIREDIS_LIBRARY}")
else()
  message(STATUS "dstm: hiredis (libhiredis-dev) not found; the Redis storage's tests and example are skipped")
endif()
