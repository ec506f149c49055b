# train box benchmark helper (owned by train): scores liblinear models with our objective for
# scripts/bench_train.sh.
add_executable(train_bench ${CMAKE_CURRENT_LIST_DIR}/train_bench.cc)
target_link_libraries(train_bench PRIVATE ringtrain::options ringtrain::train CLI11::CLI11
  nlohmann_json::nlohmann_json)
# Seeded CTR-like sparse data (hashed features, planted truth, label noise, train/test split)
# for scripts/bench_scale.sh.
add_executable(gen_ctr ${CMAKE_CURRENT_LIST_DIR}/gen_ctr.cc)
target_link_libraries(gen_ctr PRIVATE ringtrain::options ringtrain::common CLI11::CLI11)
