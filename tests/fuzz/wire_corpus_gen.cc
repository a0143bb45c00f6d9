// Writes the seed corpus of the wire fuzzer (tests/fuzz/corpus/wire/): real serialized
// requests of every type the server parses, valid ones and invalid ones (bad names,
// secrets, counts, durations, invalid UTF-8, broken encodings).
//
// Usage: wire_corpus_gen DIR   (writes seed-<what> files into DIR, which must exist)
// The seeds in the repository were made with it; crash regressions sit beside them as
// crash-<what> files.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "google/protobuf/message.h"
#include "semaphored/v1/admin.pb.h"
#include "semaphored/v1/semaphore.pb.h"

namespace semaphored::v1 {
namespace {

std::string g_dir;
int g_written = 0;

void Write(const std::string& name, const std::string& bytes) {
  std::ofstream out(g_dir + "/seed-" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ++g_written;
}
void Write(const std::string& name, const google::protobuf::Message& message) {
  Write(name, message.SerializeAsString());
}

// Hand-made encodings, for what protobuf would not serialize (invalid UTF-8 strings).
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Field(int number, const std::string& bytes) {
  return Varint(static_cast<uint64_t>(number) << 3 | 2) + Varint(bytes.size()) + bytes;
}

const char kSecret[] = "0123456789abcdef0123456789abcdef";
const std::string kBadUtf8 = std::string("job\xC3\x28", 5);     // broken 2-byte sequence
const std::string kSurrogate = std::string("x\xED\xA0\x80", 4);  // U+D800

SetSemaphoreRequest Set(const std::string& name) {
  SetSemaphoreRequest r;
  r.set_session_secret(kSecret);
  r.set_name(name);
  return r;
}

void Unary() {
  CreateSessionRequest create;
  create.set_client_name("worker-1");
  create.mutable_ttl()->set_seconds(30);
  Write("create-ok", create);
  create.mutable_ttl()->set_seconds(-5);
  Write("create-negative-ttl", create);
  create.mutable_ttl()->set_seconds(1);
  create.mutable_ttl()->set_nanos(-1);
  Write("create-ttl-opposite-signs", create);
  Write("create-client-bad-utf8", Field(1, kBadUtf8));
  Write("create-client-control", Field(1, "a\tb"));

  RefreshSessionRequest refresh;
  refresh.set_session_secret(kSecret);
  Write("refresh-ok", refresh);
  refresh.set_session_secret("0123456789ABCDEF0123456789ABCDEF");
  Write("refresh-secret-uppercase", refresh);
  Write("refresh-secret-bad-utf8", Field(1, std::string("\xFF\xFE", 2)));
  CloseSessionRequest close;
  close.set_session_secret(kSecret);
  Write("close-ok", close);

  SetSemaphoreRequest set = Set("jobs/nightly");
  set.set_limit(3);
  set.set_permits(2);
  set.mutable_timeout()->set_seconds(5);
  Write("set-ok", set);
  set = Set("db-migration");
  set.set_wait_indefinitely(true);
  Write("set-wait-indefinitely", set);
  Write("set-local-name", Set("$local"));
  Write("set-long-name", Set(std::string(300, 'n')));
  Write("set-name-c1-control", Set("a\xC2\x85" "b"));
  Write("set-name-utf8", Set("s\xC3\xA9maphore-\xE2\x9C\x93"));
  Write("set-name-bad-utf8", Field(1, kSecret) + Field(2, kBadUtf8));
  Write("set-name-surrogate", Field(2, kSurrogate));
  set = Set("a");
  set.set_limit(0);
  Write("set-limit-zero", set);
  set.set_limit(2);
  set.set_permits(3);
  Write("set-permits-over-limit", set);
  set = Set("a");
  set.mutable_timeout()->set_seconds(86401);
  Write("set-timeout-too-long", set);
  set.mutable_timeout()->set_seconds(0);
  set.mutable_timeout()->set_nanos(1'000'000'000);
  Write("set-timeout-bad-nanos", set);

  ClearSemaphoreRequest clear;
  clear.set_session_secret(kSecret);
  clear.set_name("jobs/nightly");
  Write("clear-ok", clear);
  clear.set_name("");
  Write("clear-empty-name", clear);
  TestSemaphoreRequest test;
  test.set_name("jobs/nightly");
  Write("test-ok", test);
  WaitSemaphoreClearRequest wait;
  wait.set_session_secret(kSecret);
  wait.set_name("jobs/nightly");
  wait.mutable_timeout()->set_nanos(500'000'000);
  Write("wait-clear-ok", wait);
  wait.mutable_timeout()->set_seconds(-1);
  wait.mutable_timeout()->set_nanos(0);
  Write("wait-clear-negative", wait);
  Write("ping", PingRequest());
}

void Stream() {
  StreamSessionRequest stream;
  stream.set_session_secret(kSecret);
  uint64_t id = 1;
  SessionCommand* c = stream.add_commands();
  c->set_command_id(id++);
  *c->mutable_set() = Set("jobs/nightly");
  c->mutable_set()->mutable_timeout()->set_seconds(10);
  c = stream.add_commands();
  c->set_command_id(id++);
  c->mutable_test()->set_name("jobs/nightly");
  c = stream.add_commands();
  c->set_command_id(id++);
  c->mutable_wait_clear()->set_name("other");
  c->mutable_wait_clear()->set_wait_indefinitely(true);
  c = stream.add_commands();
  c->set_command_id(id++);
  c->mutable_cancel()->set_target_command_id(3);
  c = stream.add_commands();
  c->set_command_id(id++);
  c->mutable_refresh();
  c = stream.add_commands();
  c->set_command_id(id++);
  c->mutable_clear()->set_name("jobs/nightly");
  c = stream.add_commands();
  c->set_command_id(id++);
  c->mutable_ping();
  c = stream.add_commands();
  c->set_command_id(id++);
  c->mutable_close();
  Write("stream-all-commands", stream);
  // One bad command (name not UTF-8) among good ones; a bad secret.
  SessionCommand good;
  good.set_command_id(1);
  good.mutable_ping();
  const std::string bad = Field(3, Field(2, kBadUtf8));  // set { name: <bad> }
  Write("stream-bad-command",
        Field(1, kSecret) + Field(2, good.SerializeAsString()) +
            Field(2, std::string("\x08\x02", 2) + bad));
  Write("stream-secret-bad-utf8", Field(1, std::string("\x80", 1)) +
                                      Field(2, good.SerializeAsString()));
  const std::string whole = stream.SerializeAsString();
  Write("stream-truncated", whole.substr(0, whole.size() / 2));
  // One command more than a message may carry (the stream refuses it by a count made
  // before parsing); a `commands` field with the wrong wire type (not a command).
  StreamSessionRequest many;
  many.set_session_secret(kSecret);
  for (int i = 1; i <= 65; ++i) {
    SessionCommand* command = many.add_commands();
    command->set_command_id(i);
    command->mutable_ping();
  }
  Write("stream-65-commands", many);
  Write("stream-commands-varint", Field(1, kSecret) + std::string("\x10\x05", 2) +
                                      Field(2, good.SerializeAsString()));
}

void Admin() {
  ListSemaphoresRequest list;
  list.set_prefix("jobs/");
  list.set_page_size(10);
  Write("admin-list-semaphores", list);
  GetSessionRequest get;
  get.set_session_id("00000000000000ff");
  Write("admin-get-session", get);
  EndSessionRequest end;
  end.set_session_id("00000000000000FF");
  end.set_reason("maintenance");
  Write("admin-end-session", end);
  ForceClearSemaphoreRequest force;
  force.set_name("jobs/nightly");
  force.set_reason("stuck holder");
  Write("admin-force-clear", force);
  DrainRequest drain;
  drain.set_reason("upgrade");
  Write("admin-drain", drain);
  CommandError error;
  error.set_code(99);
  error.set_message("out of range code");
  Write("command-error-code-99", error);
}

void Broken() {
  Write("broken-empty", std::string());
  Write("broken-varint", std::string("\x08\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 11));
  Write("broken-length", std::string("\x12\x7F" "abc", 5));
  Write("broken-end-group", std::string("\x0C", 1));
  Write("broken-wire-type", std::string("\x17\x00", 2));
  std::string deep;  // messages nested far deeper than any of ours
  for (int i = 0; i < 40; ++i) deep = Field(2, deep);
  Write("broken-deep-nesting", deep);
}

}  // namespace
}  // namespace semaphored::v1

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  semaphored::v1::g_dir = argv[1];
  semaphored::v1::Unary();
  semaphored::v1::Stream();
  semaphored::v1::Admin();
  semaphored::v1::Broken();
  std::printf("wrote %d seeds into %s\n", semaphored::v1::g_written, argv[1]);
  return 0;
}
