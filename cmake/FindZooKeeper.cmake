# FindZooKeeper
# -------------
# Finds the multi-threaded ZooKeeper C client (Debian: libzookeeper-mt-dev), which ships no
# CMake config and no pkg-config file.
#
# Imported target: ZooKeeper::zookeeper_mt (defines THREADED: the C client declares its
# synchronous calls and its mt-only API only with THREADED defined).
# Result variables: ZooKeeper_FOUND, ZooKeeper_INCLUDE_DIRS, ZooKeeper_LIBRARIES,
# ZooKeeper_VERSION.

find_path(ZooKeeper_INCLUDE_DIR NAMES zookeeper/zookeeper.h)
find_library(ZooKeeper_LIBRARY NAMES zookeeper_mt)

if(ZooKeeper_INCLUDE_DIR AND EXISTS "${ZooKeeper_INCLUDE_DIR}/zookeeper/zookeeper_version.h")
  file(STRINGS "${ZooKeeper_INCLUDE_DIR}/zookeeper/zookeeper_version.h" _zk_version_line
       REGEX "#define ZOO_VERSION ")
  string(REGEX REPLACE ".*ZOO_VERSION \"([0-9.]+)\".*" "\\1" _zk_version "${_zk_version_line}")
  set(ZooKeeper_VERSION "${_zk_version}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ZooKeeper
  REQUIRED_VARS ZooKeeper_LIBRARY ZooKeeper_INCLUDE_DIR
  VERSION_VAR ZooKeeper_VERSION)

if(ZooKeeper_FOUND)
  set(ZooKeeper_INCLUDE_DIRS "${ZooKeeper_INCLUDE_DIR}")
  set(ZooKeeper_LIBRARIES "${ZooKeeper_LIBRARY}")
  if(NOT TARGET ZooKeeper::zookeeper_mt)
    find_package(Threads REQUIRED)
    add_library(ZooKeeper::zookeeper_mt UNKNOWN IMPORTED)
    set_target_properties(ZooKeeper::zookeeper_mt PROPERTIES
      IMPORTED_LOCATION "${ZooKeeper_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${ZooKeeper_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS "THREADED"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
endif()
mark_as_advanced(ZooKeeper_INCLUDE_DIR ZooKeeper_LIBRARY)
