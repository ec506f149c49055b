# models box benchmarks and tools (owned by models).
add_executable(gen_data ${CMAKE_CURRENT_LIST_DIR}/gen_data.cc)
target_link_libraries(gen_data PRIVATE ringtrain::options CLI11::CLI11)
add_executable(models_bench ${CMAKE_CURRENT_LIST_DIR}/models_bench.cc)
target_link_libraries(models_bench PRIVATE ringtrain::options ringtrain::models CLI11::CLI11)
if(RINGTRAIN_OPENMP)
  target_link_libraries(models_bench PRIVATE OpenMP::OpenMP_CXX)
endif()
