# Helpers shared by every box: warnings, sanitizers, and test registration.

# ringtrain_options: an INTERFACE target carrying warnings, -Werror and sanitizer flags.
add_library(ringtrain_options INTERFACE)
add_library(ringtrain::options ALIAS ringtrain_options)
target_compile_features(ringtrain_options INTERFACE cxx_std_20)
target_compile_options(ringtrain_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual
    -Wimplicit-fallthrough -Wformat=2>)
# OpenMP for model kernels; without it the pragmas are ignored on purpose.
add_library(ringtrain_openmp INTERFACE)
add_library(ringtrain::openmp ALIAS ringtrain_openmp)
if(RINGTRAIN_OPENMP)
  target_link_libraries(ringtrain_openmp INTERFACE OpenMP::OpenMP_CXX)
else()
  target_compile_options(ringtrain_openmp INTERFACE -Wno-unknown-pragmas)
endif()
if(RINGTRAIN_WERROR)
  target_compile_options(ringtrain_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
# GCC 12 at -O2/-O3 reports false -Wrestrict positives inside libstdc++'s std::string
# operator+ (GCC PR 105651, fixed in 13); it would break every Release build with -Werror.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(ringtrain_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
endif()
if(RINGTRAIN_SANITIZE_ADDRESS)
  target_compile_options(ringtrain_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(ringtrain_options INTERFACE -fsanitize=address,undefined)
endif()
if(RINGTRAIN_SANITIZE_THREAD)
  target_compile_options(ringtrain_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(ringtrain_options INTERFACE -fsanitize=thread)
endif()

# ringtrain_add_library(<box> SOURCES ... DEPS ... [PRIVATE_DEPS ...])
# Creates ringtrain_<box> with alias ringtrain::<box>; headers are included as "<box>/x.h"
# from src/.
function(ringtrain_add_library box)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ringtrain_${box} ${ARG_SOURCES})
  add_library(ringtrain::${box} ALIAS ringtrain_${box})
  target_include_directories(ringtrain_${box} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(ringtrain_${box} PUBLIC ringtrain::options ${ARG_DEPS}
    PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# ringtrain_add_test(<name> SOURCES ... LIBS ... LABELS ... TIMEOUT <s> [RESOURCE_LOCK <r>])
# One executable per test file; every discovered test gets the labels and the timeout.
# RESOURCE_LOCK e2e_cpu keeps a CPU-heavy test from running beside the end-to-end tests.
function(ringtrain_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT;RESOURCE_LOCK" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 60)
  endif()
  set(extra)
  if(ARG_RESOURCE_LOCK)
    set(extra RESOURCE_LOCK ${ARG_RESOURCE_LOCK})
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ringtrain::options ${ARG_LIBS} GTest::gtest_main)
  gtest_discover_tests(${name}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT} ${extra})
endfunction()
