#!/usr/bin/env python3
"""fuzz/make_seeds.py — writes the tiny seed corpora fuzz/seeds/<target>/ (checked in).

Each seed is a small VALID input in the layout of fuzz/inputs.h (parameter bytes first), so
the fuzzer starts from the accepted paths. Re-run after changing a layout:
    python3 fuzz/make_seeds.py
"""
import gzip, json, os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- libsvm: [shard byte] text
write("libsvm", "binary", b"\x00" + b"+1 1:0.5 3:-1.25\n-1 2:1e-3 # comment\n\n# only\n+1 qid:3 4:2\n")
write("libsvm", "sharded", b"\x05" + b"1 1:1\n2 2:2\n3 3:3\n1 1:1 2:2 3:3\n")
write("libsvm", "crlf", b"\x00" + b"0 1:1\r\n1 5:0.25\r\n")

# --- csv: [shard byte][label column byte] text
write("csv", "header", b"\x00\x01" + b"label,a,b\n1,0.5,2\n0, 1.5 ,-3\n# c\n\n1,2,3\n")
write("csv", "last_label", b"\x00\x00" + b"0.1,0.2,1\n0.3,0.4,0\n")
write("csv", "sharded", b"\x06\x02" + b"1,2,3,4\n5,6,7,8\n9,10,11,12\n")


# --- idx: [shard byte][gzip flags][labels length u16 LE][labels file][images file]
def idx(shape, payload):
    return bytes([0, 0, 8, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + payload


def idx_input(shard, flags, rows, h, w):
    labels = idx([rows], bytes(r % 10 for r in range(rows)))
    images = idx([rows, h, w], bytes((i * 37) % 256 for i in range(rows * h * w)))
    return bytes([shard, flags]) + struct.pack("<H", len(labels)) + labels + images


write("idx", "plain", idx_input(0, 0, 4, 2, 3))
write("idx", "gzip", idx_input(0, 3, 3, 2, 2))
write("idx", "sharded", idx_input(0x06, 1, 5, 1, 4))


# --- model: [flags byte] model file (docs/formats.md "Model file"); version 2 unless told
KINDS = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3}  # loss -> model kind (models/loss_info.h)


def model(loss, mc, bias, classes, features, epoch, weights, version=2, c=1.0, epsilon=0.1):
    head = b"RTMODEL1" + struct.pack("<6I", version, KINDS[loss], loss, mc, 1 if bias else 0,
                                     len(classes))
    head += struct.pack("<dqqq", 1.0, features, epoch, len(weights))
    if version >= 2:
        head += struct.pack("<ddIId", c, epsilon, 0, 0, 0.0)
    body = head + struct.pack("<%dd" % len(classes), *classes)
    body += struct.pack("<%dd" % len(weights), *weights)
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


write("model", "binary_lr", b"\x00" + model(0, 0, False, [-1.0, 1.0], 3, 2, [0.5, -0.25, 1.0]))
write("model", "ovr_svm_bias", b"\x01" + model(1, 0, True, [0.0, 1.0, 2.0], 2, 5, [0.1] * 9))
write("model", "multinomial", b"\x00" + model(0, 1, False, [1.0, 2.0, 3.0], 1, 0, [1.0, 2.0, 3.0]))
write("model", "binary_lr_v1",
      b"\x00" + model(0, 0, False, [-1.0, 1.0], 3, 2, [0.5, -0.25, 1.0], version=1))
write("model", "svr_bias", b"\x00" + model(3, 0, True, [], 2, 4, [0.5, -1.0, 2.0], c=4.0,
                                            epsilon=0.25))

# --- znode: [decoder byte] payload
member = {"host": "10.0.0.2", "port": 4711, "mpi_rank": -1, "pid": 1234, "uuid": "ab-cd"}
write("znode", "member", b"\x00" + json.dumps(member).encode())
write("znode", "job", b"\x01" + json.dumps({
    "config_text": "c = 1\nepochs = 3\n", "config_hash": "0123abcd", "creator": "h:1",
    "created_at_unix_ms": 1700000000000, "state": "running", "token": "t0k"}).encode())
write("znode", "job_finished", b"\x01" + json.dumps({
    "config_text": "", "config_hash": "0", "token": "t", "state": "finished",
    "changed_at_unix_ms": 5, "final_epoch": 30, "objective": 95.5, "model_path": "/m.bin",
    "ended_at_unix_ms": 5}).encode())
write("znode", "job_failed", b"\x01" + json.dumps({
    "config_text": "", "config_hash": "0", "token": "t", "state": "failed",
    "cause": "peer rank 1 (h:1) left", "reported_by": "h:2, pid 3",
    "ended_at_unix_ms": 6}).encode())
write("znode", "ring", b"\x02" + json.dumps({
    "generation": 2, "state": "active", "world_size": 2, "max_seq": 7, "reason": "joined",
    "session_timeout_ms": 10000, "time_unix_ms": 1,
    "members": [dict(member, name="_c_ab-cd-m-0000000003"),
                dict(member, name="_c_ef-m-0000000007", port=4712)]}).encode())
write("znode", "checkpoint", b"\x03" + json.dumps({
    "epoch": 4, "generation": 2, "world_size": 2, "path": "/tmp/ck/epoch-4.rtm", "bytes": 120,
    "checksum": "deadbeef", "metrics": {"loss": 0.5}, "time_unix_ms": 2}).encode())
write("znode", "latest", b"\x04" + b'{"epoch":4,"node":"epoch-0000000004"}')
write("znode", "names", b"\x05" + b"epoch-0000000012")
write("znode", "config_diff", b"\x06" + b"a = 1\nb = 2\n\x00a = 1\nb = 3\nc\n")
write("znode", "job_name", b"\x07" + b"my-job")


# --- handshake: hello / reply bytes
def hello(gen, rank, world, job, token):
    return struct.pack("<IIqiiHH", 0x31525452, 1, gen, rank, world, len(job), len(token)) + job + token


write("handshake", "hello_ok", hello(3, 0, 3, b"job", b"token"))
write("handshake", "hello_wrong", hello(2, 2, 4, b"other", b""))
write("handshake", "reply", struct.pack("<IIiq", 0x41525452, 2, 1, 3))
