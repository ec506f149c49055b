// Pure codecs and checks of the rendezvous box (no ZooKeeper): config diff, job names,
// znode payloads, member names.
#include "rendezvous/records.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {
namespace {

TEST(Records, DescribeDisagreementNamesEachKeyWithEveryValueAndWhoGaveIt) {
  EXPECT_EQ(DescribeDisagreement({"a", "b"}, {"x = 1\ny = 2\n", "y = 2\nx = 1\n"}), "");
  EXPECT_EQ(DescribeDisagreement({"a", "b", "c"},
                                 {"x = 1\ny = 2\n", "x = 1\ny = 3\n", "x = 4\ny = 2\nz = 0\n"}),
            "x ('1' on a, b; '4' on c); y ('2' on a, c; '3' on b); z (<unset> on a, b; '0' on c)");
  MemberRecord m{{"", "h", 7, -1, 3, "u"}, "x = 1\n", "why"};
  auto back = DecodeMember(EncodeMember(m), "w");
  EXPECT_EQ(back.member.host, "h");
  EXPECT_EQ(back.agreed, "x = 1\n");
  EXPECT_EQ(back.refusal, "why");
  // A payload of an older member (no "agreed") decodes with empty fields.
  EXPECT_EQ(DecodeMember(MemberToJson(m.member), "w").agreed, "");
}

TEST(Records, JobRecordKeepsTheOutcomeAndRefusesMalformedFields) {
  JobRecord r;
  r.config_text = "a = 1\n";
  r.config_hash = "h";
  r.token = "t";
  r.state = "finished";
  r.changed_at_unix_ms = 5;
  r.outcome.final_epoch = 30;
  r.outcome.objective = 95.5;
  r.outcome.model_path = "/m.bin";
  r.outcome.ended_at_unix_ms = 5;
  JobRecord back = DecodeJob(EncodeJob(r), "w");
  EXPECT_EQ(back.state, "finished");
  EXPECT_EQ(back.changed_at_unix_ms, 5);
  EXPECT_EQ(back.outcome.final_epoch, 30);
  EXPECT_EQ(back.outcome.objective, 95.5);
  EXPECT_EQ(back.outcome.model_path, "/m.bin");
  r.state = "failed";
  r.outcome = JobOutcome{};
  r.outcome.cause = "peer rank 1 (h:1) left";
  r.outcome.reported_by = "h:2, pid 3";
  back = DecodeJob(EncodeJob(r), "w");
  EXPECT_EQ(back.outcome.cause, "peer rank 1 (h:1) left");
  EXPECT_EQ(back.outcome.reported_by, "h:2, pid 3");
  EXPECT_EQ(back.outcome.final_epoch, -1);
  // A record of an older build (no outcome fields) decodes with none.
  back = DecodeJob(R"({"config_text":"","config_hash":"h","token":"t","state":"running"})", "w");
  EXPECT_EQ(back.outcome.final_epoch, -1);
  EXPECT_EQ(back.changed_at_unix_ms, 0);
  // Untrusted content: wrong types and out-of-range integers are refused, naming the node.
  for (const char* bad :
       {R"({"config_text":"","config_hash":"h","token":"t","final_epoch":1e300})",
        R"({"config_text":"","config_hash":"h","token":"t","objective":"big"})",
        R"({"config_text":"","config_hash":"h","token":"t","cause":7})",
        R"({"config_text":"","config_hash":"h","token":"t","changed_at_unix_ms":-1.5})"}) {
    EXPECT_THROW(DecodeJob(bad, "zk /ringtrain/j"), RendezvousError) << bad;
  }
}

// The digest identity ZooKeeper derives from user:password (SHA-1, base64): FIPS 180 test
// vectors (one and two blocks, and a 1000-byte message), and an ACL is described without
// the hash.
TEST(Records, DigestIdIsZooKeepersAndAclsPrintWithoutHashes) {
  EXPECT_EQ(DigestId("abc"), "abc:qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
  EXPECT_EQ(
      DigestId("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq:hJg+RBw70m66rkqh+VEp5eVGcPE=");
  EXPECT_EQ(DigestId(std::string(1000, 'a')),
            std::string(1000, 'a') + ":KR6abGaZSUm1e6XmUDYemPw2sbo=");
  EXPECT_EQ(DigestId("alice:s3cret"), "alice:uLxpHc/uhT86OXPoSjJTp1M8CJY=");
  EXPECT_EQ(DescribeAcl({{"world", "anyone", kPermRead | kPermCreate},
                         {"digest", DigestId("alice:s3cret"), kPermAll}}),
            "world:anyone:cr, digest:alice:cdrwa");
  EXPECT_EQ(DescribeAcl({}), "(empty ACL)");
}

TEST(Records, DiffConfigNamesEveryDifferingKey) {
  auto d = DiffConfig("a = 1\nb = 2\n", "a = 1\nb = 3\nc = x\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0], "b (job: 2, yours: 3)");
  EXPECT_EQ(d[1], "c (job: <unset>, yours: x)");
  EXPECT_TRUE(DiffConfig("a=1", "  a =  1  \n\n# comment\n").empty());
}

TEST(Records, JobNames) {
  EXPECT_THROW(ValidateJobName(""), UsageError);
  EXPECT_THROW(ValidateJobName("x/y"), UsageError);
  EXPECT_THROW(ValidateJobName(std::string(201, 'a')), UsageError);
  EXPECT_THROW(ValidateJobName(".."), UsageError);
  EXPECT_THROW(ValidateJobName("a\nb"), UsageError);
  EXPECT_NO_THROW(ValidateJobName(std::string(200, 'a')));
  EXPECT_NO_THROW(ValidateJobName("exp-42_b.c"));
}

TEST(Records, PathsAndMemberNames) {
  auto p = JobPaths::For("/ringtrain/", "j");
  EXPECT_EQ(p.job, "/ringtrain/j");
  EXPECT_EQ(p.members, "/ringtrain/j/members");
  EXPECT_EQ(JobPaths::For("/", "j").ring, "/j/ring");
  EXPECT_EQ(MemberSequence("_c_abc-m-0000000012"), 12);
  EXPECT_EQ(MemberSequence("_c_abc-m-12"), -1);
  EXPECT_EQ(MemberSequence("junk"), -1);
  EXPECT_EQ(MemberUuid("_c_abc-m-0000000012"), "abc");
  EXPECT_EQ(EpochNodeName(7), "epoch-0000000007");
  EXPECT_EQ(ParseEpochNodeName("epoch-0000000007"), 7);
  EXPECT_FALSE(ParseEpochNodeName("latest").has_value());
}

TEST(Records, RingRoundTrip) {
  RingRecord r;
  r.generation = 3;
  r.state = "active";
  r.max_seq = 9;
  r.reason = "member rank 1 (h:1) left";
  Member m{"_c_u-m-0000000009", "10.0.0.1", 4711, 2, 99, "u"};
  r.members.push_back(m);
  RingRecord back = DecodeRing(EncodeRing(r), "test");
  EXPECT_EQ(back.generation, 3);
  EXPECT_EQ(back.state, "active");
  EXPECT_EQ(back.max_seq, 9);
  EXPECT_EQ(back.reason, r.reason);
  ASSERT_EQ(back.members.size(), 1u);
  EXPECT_EQ(back.members[0], m);
  EXPECT_TRUE(back.Contains(m.name));
  EXPECT_EQ(DecodeRing("", "test").state, "none");
  EXPECT_THROW(DecodeRing("{not json", "test"), RendezvousError);
}

TEST(Records, CheckpointAndLatestRoundTrip) {
  CheckpointRecord c{12, 3, 4, "/ck/e12", 1234, "crc32:abcd", "{\"objective\":0.5}", 17};
  EXPECT_EQ(DecodeCheckpoint(EncodeCheckpoint(c), "t"), c);
  EXPECT_EQ(DecodeLatest(EncodeLatest(12)), 12);
  EXPECT_FALSE(DecodeLatest(EncodeLatest(std::nullopt)).has_value());
  JobRecord j{"a = 1\n", "00ff", "host:1", 5, "running", "tok", 0, {}};
  JobRecord back = DecodeJob(EncodeJob(j), "t");
  EXPECT_EQ(back.config_hash, "00ff");
  EXPECT_EQ(back.token, "tok");
  EXPECT_THROW(DecodeJob("{}", "t"), RendezvousError);
}

}  // namespace
}  // namespace ringtrain::rendezvous
