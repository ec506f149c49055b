# train box benchmark helper (owned by train): scores liblinear models with our objective for
# scripts/bench_train.sh.
add_executable(train_bench ${CMAKE_CURRENT_LIST_DIR}/train_bench.cc)
target_link_libraries(train_bench PRIVATE ringtrain::options ringtrain::train CLI11::CLI11
  nlohmann_json::nlohmann_json)
