// Unit tests of the handshake codec and its checks.
#include "allreduce/handshake.h"

#include <gtest/gtest.h>

namespace ringtrain::allreduce {
namespace {

Ring TestRing() {
  Ring ring;
  ring.job = "exp42";
  ring.token = "secret";
  ring.generation = 3;
  ring.rank = 1;
  ring.members.resize(3);
  return ring;
}

TEST(Handshake, RoundTripsAndAcceptsThePredecessor) {
  const Hello h{3, 0, 3, "exp42", "secret"};
  const auto bytes = EncodeHello(h);
  ASSERT_EQ(HelloLength(bytes.data()), bytes.size());
  const auto back = DecodeHello(bytes.data(), bytes.size());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->job, "exp42");
  EXPECT_EQ(back->token, "secret");
  EXPECT_EQ(CheckHello(*back, TestRing()), HelloStatus::kOk);
}

TEST(Handshake, RefusesForeignStaleAndWrongPeers) {
  const Ring ring = TestRing();
  EXPECT_EQ(CheckHello({3, 0, 3, "other", "secret"}, ring), HelloStatus::kWrongJob);
  EXPECT_EQ(CheckHello({3, 0, 3, "exp42", "guess"}, ring), HelloStatus::kWrongToken);
  EXPECT_EQ(CheckHello({2, 0, 3, "exp42", "secret"}, ring), HelloStatus::kWrongGeneration);
  EXPECT_EQ(CheckHello({3, 2, 3, "exp42", "secret"}, ring), HelloStatus::kWrongRank);
  EXPECT_EQ(CheckHello({3, 0, 4, "exp42", "secret"}, ring), HelloStatus::kWrongWorld);
}

TEST(Handshake, GarbageIsRecognised) {
  std::vector<std::byte> junk(kHelloFixedBytes, std::byte{0x47});
  EXPECT_FALSE(HelloLength(junk.data()));
  auto bytes = EncodeHello(Hello{1, 0, 2, std::string(kMaxHelloString + 1, 'j'), "t"});
  EXPECT_FALSE(HelloLength(bytes.data()));
  const auto reply = EncodeReply(Reply{HelloStatus::kWrongToken, 4, 9});
  const auto back = DecodeReply(reply.data());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, HelloStatus::kWrongToken);
  EXPECT_EQ(back->generation, 9);
  EXPECT_FALSE(DecodeReply(junk.data()));
}

}  // namespace
}  // namespace ringtrain::allreduce
