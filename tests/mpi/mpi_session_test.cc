// MpiSession::LaunchedByMpirun judges an environment block (no MPI initialised here).
#include "allreduce/mpi_session.h"

#include <gtest/gtest.h>

namespace ringtrain::allreduce {
namespace {

TEST(MpiSession, LaunchedByMpirunReadsTheLaunchersVariables) {
  char plain0[] = "HOME=/root";
  char plain1[] = "OMPI_ALLOW_RUN_AS_ROOT=1";  // set by users, not by the launcher
  char* plain[] = {plain0, plain1, nullptr};
  EXPECT_FALSE(MpiSession::LaunchedByMpirun(plain));
  EXPECT_FALSE(MpiSession::LaunchedByMpirun(nullptr));
  char ompi[] = "OMPI_COMM_WORLD_SIZE=4";
  char* with_ompi[] = {plain0, ompi, nullptr};
  EXPECT_TRUE(MpiSession::LaunchedByMpirun(with_ompi));
  char pmi[] = "PMI_RANK=0";
  char* with_pmi[] = {pmi, nullptr};
  EXPECT_TRUE(MpiSession::LaunchedByMpirun(with_pmi));
}

}  // namespace
}  // namespace ringtrain::allreduce
