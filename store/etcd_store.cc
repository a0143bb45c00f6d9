// EtcdStore: the engine's effects as keys in etcd, one guarded transaction per batch.

#include "store/etcd_store.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "store/stored_time.h"

namespace semaphored::store {
namespace {

constexpr absl::string_view kFormat = "1";
constexpr absl::string_view kFormatKey = "meta/format";
constexpr absl::string_view kIntents = "x/";
// What one operation costs in a request besides its key and value (a generous bound).
constexpr int64_t kOpOverhead = 32;
// Keys a load reads per request.
constexpr int64_t kLoadPage = 2000;

std::string Hex(uint64_t value) { return absl::StrFormat("%016x", value); }

std::string SessionKey(engine::SessionId session) { return "s/" + Hex(session); }
std::string SemaphoreKey(absl::string_view name) { return absl::StrCat("m/", name); }
std::string HolderKey(absl::string_view name, engine::SessionId session) {
  return absl::StrCat("h/", name, absl::string_view("\0", 1), Hex(session));
}
std::string WaiterKey(engine::WaiterId waiter) { return "w/" + Hex(waiter); }
std::string OutcomePrefix(engine::SessionId session) { return "o/" + Hex(session) + "/"; }
std::string OutcomeKey(engine::SessionId session, uint64_t seq) {
  return OutcomePrefix(session) + Hex(seq);
}

// The end of the range of keys that start with `prefix` (etcd's "prefix end").
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

bool ParseHex(absl::string_view text, uint64_t* value) {
  return text.size() == 16 && absl::SimpleHexAtoi(text, value);
}

// A prefix delete is kept as its key with this mark at the end (no key has it: names
// and hex ids never end with NUL + 0xff).
const std::string& PrefixMark() {
  static const std::string* mark = new std::string("\0\xff", 2);
  return *mark;
}

}  // namespace

EtcdStore::EtcdStore(EtcdStoreOptions options, std::shared_ptr<EtcdClient> client)
    : options_(std::move(options)), client_(std::move(client)) {}

absl::StatusOr<std::unique_ptr<EtcdStore>> EtcdStore::Open(const EtcdStoreOptions& options) {
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Create(options.etcd);
  if (!client.ok()) return client.status();
  return Open(options, std::shared_ptr<EtcdClient>(*std::move(client)));
}

absl::StatusOr<std::unique_ptr<EtcdStore>> EtcdStore::Open(
    const EtcdStoreOptions& options, std::shared_ptr<EtcdClient> client) {
  if (options.prefix.empty() || options.prefix.back() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd prefix '", options.prefix, "' must end with '/'"));
  }
  if (options.max_txn_ops < 2) {
    return absl::InvalidArgumentError("etcd transactions must carry at least 2 operations");
  }
  return std::unique_ptr<EtcdStore>(new EtcdStore(options, std::move(client)));
}

void EtcdStore::SetGuard(std::optional<EtcdGuard> guard) {
  absl::MutexLock lock(&mu_);
  guard_ = std::move(guard);
}

void EtcdStore::FailAfterTxnsForTest(int txns) {
  absl::MutexLock lock(&mu_);
  fail_after_txns_ = txns;
}

std::string EtcdStore::Describe() const {
  return absl::StrCat("etcd ", options_.prefix, " at ",
                      absl::StrJoin(options_.etcd.endpoints, ","));
}

// --- Writing ---

bool EtcdStore::Fits(const Ops& ops) const {
  if (static_cast<int64_t>(ops.size()) > options_.max_txn_ops) return false;
  int64_t bytes = 0;
  for (const auto& [key, value] : ops) {
    bytes += kOpOverhead + static_cast<int64_t>(options_.prefix.size() + key.size()) +
             (value.has_value() ? static_cast<int64_t>(value->size()) : 0);
  }
  return bytes <= options_.max_txn_bytes;
}

absl::Status EtcdStore::WriteTxn(etcdserverpb::TxnRequest request, absl::Time deadline) {
  if (guard_.has_value()) {
    etcdserverpb::Compare* compare = request.add_compare();
    compare->set_key(guard_->key);
    compare->set_target(etcdserverpb::Compare::CREATE);
    compare->set_result(etcdserverpb::Compare::EQUAL);
    compare->set_create_revision(guard_->create_revision);
  }
  if (fail_after_txns_ > 0 && --fail_after_txns_ == 0) {
    return absl::AbortedError("stopped by the test (as a crash would)");
  }
  absl::Duration backoff = absl::Milliseconds(20);
  for (;;) {
    absl::StatusOr<etcdserverpb::TxnResponse> response = client_->Txn(request);
    if (response.ok()) {
      if (!response->succeeded()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "this server is no longer the leader (its key ", guard_->key,
            " is gone or was made again): nothing was written"));
      }
      return absl::OkStatus();
    }
    if (response.status().code() != absl::StatusCode::kUnavailable ||
        absl::Now() + backoff > deadline) {
      return absl::Status(response.status().code(),
                          absl::StrCat("state store unavailable: ", response.status().message()));
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::Status EtcdStore::Write(const Ops& ops, absl::Time deadline) {
  etcdserverpb::TxnRequest request;
  for (const auto& [key, value] : ops) {
    etcdserverpb::RequestOp* op = request.add_success();
    if (value.has_value()) {
      etcdserverpb::PutRequest* put = op->mutable_request_put();
      put->set_key(options_.prefix + key);
      put->set_value(*value);
    } else if (absl::EndsWith(key, PrefixMark())) {
      const std::string prefix =
          options_.prefix + key.substr(0, key.size() - PrefixMark().size());
      etcdserverpb::DeleteRangeRequest* del = op->mutable_request_delete_range();
      del->set_key(prefix);
      del->set_range_end(PrefixEnd(prefix));
    } else {
      op->mutable_request_delete_range()->set_key(options_.prefix + key);
    }
  }
  return WriteTxn(std::move(request), deadline);
}

absl::Status EtcdStore::ApplyInParts(const Ops& ops, absl::Time deadline) {
  Ops part;
  for (const auto& [key, value] : ops) {
    part.emplace(key, value);
    if (!Fits(part)) {
      part.erase(key);
      if (absl::Status s = Write(part, deadline); !s.ok()) return s;
      part.clear();
      part.emplace(key, value);
    }
  }
  if (part.empty()) return absl::OkStatus();
  return Write(part, deadline);
}

absl::Status EtcdStore::CommitAsIntent(const Ops& ops, absl::Time deadline) {
  const std::string intent = absl::StrCat(kIntents, Hex(next_intent_++), "/");
  // The chunks, each within one transaction's bytes.
  v1::IntentChunk chunk;
  int64_t chunk_bytes = 0;
  int chunks = 0;
  auto flush = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    if (chunk.ops_size() == 0) return absl::OkStatus();
    Ops put;
    put.emplace(absl::StrFormat("%s%08x", intent, chunks++), chunk.SerializeAsString());
    chunk.Clear();
    chunk_bytes = 0;
    return Write(put, deadline);
  };
  for (const auto& [key, value] : ops) {
    v1::IntentChunk::Op* op = chunk.add_ops();
    if (value.has_value()) {
      op->set_key(key);
      op->set_value(*value);
    } else if (absl::EndsWith(key, PrefixMark())) {
      op->set_key(key.substr(0, key.size() - PrefixMark().size()));
      op->set_remove(true);
      op->set_prefix(true);
    } else {
      op->set_key(key);
      op->set_remove(true);
    }
    chunk_bytes += kOpOverhead + static_cast<int64_t>(op->key().size() + op->value().size());
    if (chunk_bytes > options_.max_txn_bytes / 2) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
  }
  if (absl::Status s = flush(); !s.ok()) return s;
  // The batch commits here.
  if (absl::Status s = Write(Ops{{intent + "end", std::to_string(chunks)}}, deadline); !s.ok()) {
    return s;
  }
  if (absl::Status s = ApplyInParts(ops, deadline); !s.ok()) return s;
  return Write(Ops{{intent + PrefixMark(), std::nullopt}}, deadline);
}

absl::Status EtcdStore::Commit(const engine::EffectBatch& batch) {
  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) return broken_;
  if (!loaded_) return absl::FailedPreconditionError("etcd store: Commit before Load");
  Ops ops;
  for (size_t i = 0; i < batch.effects.size(); ++i) {
    if (absl::Status s = AddOps(batch.effects[i], &ops); !s.ok()) {
      // The caches may be ahead of etcd now: nothing more is written.
      broken_ = absl::Status(s.code(), absl::StrCat("effect ", i + 1, " of ",
                                                    batch.effects.size(), ": ", s.message(),
                                                    "; the batch was not committed"));
      return broken_;
    }
  }
  if (ops.empty()) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + options_.commit_timeout;
  absl::Status status = Fits(ops) ? Write(ops, deadline) : CommitAsIntent(ops, deadline);
  if (!status.ok()) broken_ = status;  // the caches are ahead of etcd: restart to reload
  return status;
}

void EtcdStore::RaiseMeta(const char* key, uint64_t value, uint64_t* kept, Ops* ops) {
  if (value <= *kept) return;
  *kept = value;
  (*ops)[absl::StrCat("meta/", key)] = std::to_string(value);
}

void EtcdStore::RaiseLastSeq(engine::SessionId session, uint64_t seq, Ops* ops) {
  auto it = sessions_.find(session);
  if (it == sessions_.end() || it->second.last_seq() >= seq) return;
  it->second.set_last_seq(seq);
  (*ops)[SessionKey(session)] = it->second.SerializeAsString();
}

absl::Status EtcdStore::AddOps(const engine::Effect& effect, Ops* ops) {
  Ops& o = *ops;
  if (const auto* e = std::get_if<engine::SessionOpened>(&effect)) {
    v1::SessionRecord record;
    record.set_secret(e->secret);
    record.set_client_name(e->client_name);
    record.set_peer(e->peer);
    record.set_ttl_ns(StoredNanos(e->ttl));
    record.set_last_seq(e->last_seq);
    o[SessionKey(e->session)] = record.SerializeAsString();
    sessions_[e->session] = std::move(record);
    RaiseMeta("last_session", e->session, &last_session_, ops);
    return absl::OkStatus();
  }
  if (const auto* e = std::get_if<engine::SessionEnded>(&effect)) {
    if (sessions_.erase(e->session) == 0) return absl::InternalError("it is not stored");
    o[SessionKey(e->session)] = std::nullopt;
    // Its kept outcomes go with it (a prefix delete replaces the puts under it).
    const std::string outcomes = OutcomePrefix(e->session);
    o.erase(o.lower_bound(outcomes), o.lower_bound(PrefixEnd(outcomes)));
    o[outcomes + PrefixMark()] = std::nullopt;
    return absl::OkStatus();
  }
  if (const auto* e = std::get_if<engine::SemaphoreCreated>(&effect)) {
    v1::SemaphoreRecord record;
    record.set_limit(e->limit);
    o[SemaphoreKey(e->name)] = record.SerializeAsString();
    return absl::OkStatus();
  }
  if (const auto* e = std::get_if<engine::SemaphoreErased>(&effect)) {
    o[SemaphoreKey(e->name)] = std::nullopt;
    return absl::OkStatus();
  }
  if (const auto* e = std::get_if<engine::HolderAdded>(&effect)) {
    v1::HolderRecord record;
    record.set_grant_seq(next_grant_seq_++);
    record.set_permits(e->permits);
    record.set_fencing_token(e->fencing_token);
    record.set_since_ns(StoredNanos(e->since));
    o[HolderKey(e->name, e->session)] = record.SerializeAsString();
    return absl::OkStatus();
  }
  if (const auto* e = std::get_if<engine::HolderRemoved>(&effect)) {
    o[HolderKey(e->name, e->session)] = std::nullopt;
    return absl::OkStatus();
  }
  if (const auto* e = std::get_if<engine::WaiterQueued>(&effect)) {
    v1::WaiterRecord record;
    record.set_name(e->name);
    record.set_session(e->session);
    record.set_wait_for_clear(e->wait_for_clear);
    record.set_permits(e->permits);
    record.set_deadline_ns(StoredNanos(e->deadline));
    record.set_enqueued_ns(StoredNanos(e->enqueued));
    record.set_seq(e->seq);
    o[WaiterKey(e->waiter)] = record.SerializeAsString();
    RaiseMeta("last_waiter", e->waiter, &last_waiter_, ops);
    if (e->seq != 0) RaiseLastSeq(e->session, e->seq, ops);
    return absl::OkStatus();
  }
  if (const auto* e = std::get_if<engine::WaiterRemoved>(&effect)) {
    o[WaiterKey(e->waiter)] = std::nullopt;
    return absl::OkStatus();
  }
  if (const auto* e = std::get_if<engine::CommandOutcome>(&effect)) {
    v1::OutcomeRecord record;
    record.set_kind(static_cast<int32_t>(e->kind));
    record.set_code(static_cast<int32_t>(e->code));
    record.set_message(e->message);
    record.set_acquired(e->acquired);
    record.set_already_held(e->already_held);
    record.set_fencing_token(e->grant.fencing_token);
    record.set_permits(e->grant.permits);
    record.set_grant_ns(StoredNanos(e->grant.grant_time));
    record.set_released(e->released);
    record.set_clear(e->clear);
    o[OutcomeKey(e->session, e->seq)] = record.SerializeAsString();
    RaiseLastSeq(e->session, e->seq, ops);
    return absl::OkStatus();
  }
  if (const auto* e = std::get_if<engine::CommandsAcked>(&effect)) {
    for (const uint64_t seq : e->seqs) o[OutcomeKey(e->session, seq)] = std::nullopt;
    return absl::OkStatus();
  }
  const auto& e = std::get<engine::TokenHighWater>(effect);
  RaiseMeta("token_high_water", e.high_water, &token_high_water_, ops);
  return absl::OkStatus();
}

// --- Loading ---

absl::StatusOr<engine::StoredState> EtcdStore::Load() {
  absl::MutexLock lock(&mu_);
  if (loaded_) return absl::FailedPreconditionError("etcd store: Load called twice");
  const absl::Time deadline = absl::Now() + options_.commit_timeout;
  // Every key under the prefix, as of one revision.
  std::map<std::string, std::string> keys;  // relative to the prefix
  {
    etcdserverpb::RangeRequest request;
    request.set_key(options_.prefix);
    request.set_range_end(PrefixEnd(options_.prefix));
    request.set_limit(kLoadPage);
    for (;;) {
      absl::StatusOr<etcdserverpb::RangeResponse> page = client_->Range(request);
      if (!page.ok()) {
        return absl::Status(page.status().code(),
                            absl::StrCat("state store unavailable: ", page.status().message()));
      }
      if (request.revision() == 0) request.set_revision(page->header().revision());
      for (const mvccpb::KeyValue& kv : page->kvs()) {
        keys[kv.key().substr(options_.prefix.size())] = kv.value();
      }
      if (!page->more() || page->kvs_size() == 0) break;
      request.set_key(page->kvs(page->kvs_size() - 1).key() + std::string(1, '\0'));
    }
  }
  auto where = [&](const std::string& key) {
    return absl::StrCat("etcd key ", options_.prefix, key);
  };
  auto corrupt = [&](const std::string& key, absl::string_view what) {
    return absl::DataLossError(absl::StrCat(where(key), " ", what,
                                            "; restore the prefix from a backup"));
  };
  const auto format = keys.find(std::string(kFormatKey));
  const bool fresh = format == keys.end();
  if (fresh) {
    if (!keys.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "etcd prefix ", options_.prefix, " holds ", keys.size(),
          " keys but no semaphored format: choose another --etcd_prefix"));
    }
  } else if (format->second != kFormat) {
    return absl::FailedPreconditionError(absl::StrCat(
        "etcd prefix ", options_.prefix, " is in format ", format->second,
        ", which this semaphored does not know (it knows ", kFormat,
        "): run a newer semaphored"));
  }

  // Intents: a committed one (its end key is there) is finished, others dropped.
  std::map<uint64_t, std::vector<std::string>> intents;  // chunk values in order
  std::vector<uint64_t> committed;
  Ops finish;
  for (auto it = keys.lower_bound(std::string(kIntents));
       it != keys.end() && absl::StartsWith(it->first, kIntents);) {
    const absl::string_view rest = absl::string_view(it->first).substr(kIntents.size());
    uint64_t id = 0;
    if (rest.size() < 17 || !ParseHex(rest.substr(0, 16), &id) || rest[16] != '/') {
      return corrupt(it->first, "is not an intent's key");
    }
    next_intent_ = std::max(next_intent_, id + 1);
    if (rest.substr(17) == "end") {
      committed.push_back(id);
    } else {
      intents[id].push_back(it->second);
    }
    it = keys.erase(it);
  }
  for (const uint64_t id : committed) {
    for (const std::string& value : intents[id]) {
      v1::IntentChunk chunk;
      if (!chunk.ParseFromString(value)) {
        return corrupt(absl::StrCat(kIntents, Hex(id), "/"), "has a chunk that does not parse");
      }
      for (const v1::IntentChunk::Op& op : chunk.ops()) {
        if (!op.remove()) {
          keys[op.key()] = op.value();
          finish[op.key()] = op.value();
        } else if (op.prefix()) {
          keys.erase(keys.lower_bound(op.key()), keys.lower_bound(PrefixEnd(op.key())));
          finish.erase(finish.lower_bound(op.key()), finish.lower_bound(PrefixEnd(op.key())));
          finish[op.key() + PrefixMark()] = std::nullopt;
        } else {
          keys.erase(op.key());
          finish[op.key()] = std::nullopt;
        }
      }
    }
  }

  engine::StoredState out;
  std::map<std::string, engine::StoredSemaphore> semaphores;
  std::vector<std::pair<uint64_t, std::pair<std::string, engine::StoredHolder>>> holders;
  uint64_t max_grant = 0;
  for (const auto& [key, value] : keys) {
    if (key == kFormatKey) continue;
    if (absl::StartsWith(key, "meta/")) {
      uint64_t number = 0;
      if (!absl::SimpleAtoi(value, &number)) return corrupt(key, "is not a number");
      if (key == "meta/token_high_water") {
        out.token_high_water = number;
      } else if (key == "meta/last_waiter") {
        out.last_waiter = number;
      } else if (key == "meta/last_session") {
        out.last_session = number;
      } else {
        return corrupt(key, "is not a key semaphored writes");
      }
    } else if (absl::StartsWith(key, "s/")) {
      uint64_t id = 0;
      v1::SessionRecord record;
      if (!ParseHex(absl::string_view(key).substr(2), &id) || !record.ParseFromString(value)) {
        return corrupt(key, "is not a session record");
      }
      out.sessions.push_back(engine::SessionOpened{id, record.secret(), record.client_name(),
                                                   record.peer(),
                                                   StoredDuration(record.ttl_ns()),
                                                   record.last_seq()});
      sessions_[id] = std::move(record);
    } else if (absl::StartsWith(key, "m/")) {
      v1::SemaphoreRecord record;
      if (!record.ParseFromString(value)) return corrupt(key, "is not a semaphore record");
      engine::StoredSemaphore& sem = semaphores[key.substr(2)];
      sem.name = key.substr(2);
      sem.limit = record.limit();
    } else if (absl::StartsWith(key, "h/")) {
      const size_t nul = key.find('\0', 2);
      uint64_t session = 0;
      v1::HolderRecord record;
      if (nul == std::string::npos ||
          !ParseHex(absl::string_view(key).substr(nul + 1), &session) ||
          !record.ParseFromString(value)) {
        return corrupt(key, "is not a holder record");
      }
      max_grant = std::max(max_grant, record.grant_seq());
      holders.push_back({record.grant_seq(),
                         {key.substr(2, nul - 2),
                          engine::StoredHolder{session, record.permits(), record.fencing_token(),
                                               StoredTime(record.since_ns())}}});
    } else if (absl::StartsWith(key, "w/")) {
      uint64_t id = 0;
      v1::WaiterRecord record;
      if (!ParseHex(absl::string_view(key).substr(2), &id) || !record.ParseFromString(value)) {
        return corrupt(key, "is not a waiter record");
      }
      auto sem = semaphores.find(record.name());
      if (sem == semaphores.end()) {
        return corrupt(key, absl::StrCat("is a waiter on semaphore '", record.name(),
                                         "', which is not stored"));
      }
      sem->second.waiters.push_back(engine::StoredWaiter{
          id, record.session(), record.wait_for_clear(), record.permits(),
          StoredTime(record.deadline_ns()), StoredTime(record.enqueued_ns()), record.seq()});
    } else if (absl::StartsWith(key, "o/")) {
      uint64_t session = 0;
      uint64_t seq = 0;
      v1::OutcomeRecord record;
      if (key.size() != 2 + 16 + 1 + 16 || key[18] != '/' ||
          !ParseHex(absl::string_view(key).substr(2, 16), &session) ||
          !ParseHex(absl::string_view(key).substr(19), &seq) || !record.ParseFromString(value)) {
        return corrupt(key, "is not a command outcome record");
      }
      engine::CommandOutcome& o = out.outcomes.emplace_back();
      o.session = session;
      o.seq = seq;
      o.kind = static_cast<engine::CommandKind>(record.kind());
      o.code = static_cast<absl::StatusCode>(record.code());
      o.message = record.message();
      o.acquired = record.acquired();
      o.already_held = record.already_held();
      o.grant.fencing_token = record.fencing_token();
      o.grant.permits = record.permits();
      o.grant.grant_time = StoredTime(record.grant_ns());
      o.released = record.released();
      o.clear = record.clear();
    } else {
      return corrupt(key, "is not a key semaphored writes");
    }
  }
  std::sort(holders.begin(), holders.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [grant, holder] : holders) {
    auto sem = semaphores.find(holder.first);
    if (sem == semaphores.end()) {
      return corrupt(HolderKey(holder.first, holder.second.session),
                     "is a holder of a semaphore that is not stored");
    }
    sem->second.holders.push_back(holder.second);
  }
  for (auto& [name, sem] : semaphores) out.semaphores.push_back(std::move(sem));

  token_high_water_ = out.token_high_water;
  last_waiter_ = out.last_waiter;
  last_session_ = out.last_session;
  next_grant_seq_ = max_grant + 1;

  // Writes (guarded, when the leader loads): the format of a new prefix; the rest of
  // each committed intent, then every intent's keys.
  if (fresh) finish[std::string(kFormatKey)] = std::string(kFormat);
  if (!finish.empty()) {
    if (absl::Status s = ApplyInParts(finish, deadline); !s.ok()) return s;
  }
  if (next_intent_ > 1) {
    if (absl::Status s = Write(Ops{{std::string(kIntents) + PrefixMark(), std::nullopt}},
                               deadline);
        !s.ok()) {
      return s;
    }
  }
  loaded_ = true;
  return out;
}

}  // namespace semaphored::store
