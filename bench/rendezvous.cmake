# rendezvous_bench: time from the last member's join to every member holding the ring, and
# the watch notifications delivered, for N members as threads (one ZooKeeper session each).
add_executable(rendezvous_bench ${CMAKE_CURRENT_LIST_DIR}/rendezvous_bench.cc)
target_link_libraries(rendezvous_bench PRIVATE ringtrain::options ringtrain::rendezvous
  nlohmann_json::nlohmann_json)
