# FindZooKeeper: the ZooKeeper C client (multi-threaded flavour, libzookeeper-mt).
# Debian ships neither a CMake package nor a pkg-config file, so we look by hand.
# Creates ZooKeeper::zookeeper_mt. It defines THREADED, without which zookeeper.h hides the
# synchronous API (zoo_create, zoo_multi, ...).
find_package(Threads REQUIRED)
find_path(ZOOKEEPER_INCLUDE_DIR NAMES zookeeper/zookeeper.h)
find_library(ZOOKEEPER_MT_LIBRARY NAMES zookeeper_mt)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ZooKeeper REQUIRED_VARS ZOOKEEPER_MT_LIBRARY ZOOKEEPER_INCLUDE_DIR)
if(ZooKeeper_FOUND AND NOT TARGET ZooKeeper::zookeeper_mt)
  add_library(ZooKeeper::zookeeper_mt UNKNOWN IMPORTED)
  set_target_properties(ZooKeeper::zookeeper_mt PROPERTIES
    IMPORTED_LOCATION "${ZOOKEEPER_MT_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${ZOOKEEPER_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "THREADED"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
mark_as_advanced(ZOOKEEPER_INCLUDE_DIR ZOOKEEPER_MT_LIBRARY)
