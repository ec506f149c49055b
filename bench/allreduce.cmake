# allreduce_bench: ring allreduce (TCP, MPI transport) beside MPI_Allreduce; JSON lines.
add_executable(allreduce_bench ${CMAKE_CURRENT_SOURCE_DIR}/allreduce_bench.cc)
target_link_libraries(allreduce_bench PRIVATE ringtrain::options ringtrain::allreduce_mpi)
