#pragma once
/// \file
/// Transactions: `dstm::dosync(client, body)` runs `body(tx)` atomically and in isolation,
/// retrying it on conflict; `tx.deref / alter / ref_set / commute / ensure` act on refs.
///
/// **Reads** come from the client's watch-invalidated cache (a miss reads the coordinator and
/// leaves a watch). After every read the transaction checks that nothing it read before was
/// invalidated since; if something was, the snapshot is no longer consistent and the body is
/// abandoned and run again at once. So every run of a body — also one that will abort — sees a
/// consistent snapshot (opacity). A read-only transaction on a warm cache costs no round trip.
///
/// **Commit** is one coordinator `multi`: a versioned `set` per written ref, a `check` per ref
/// only read (serializable) or `ensure`d (snapshot isolation), and the client's outcome record.
/// A version mismatch is a conflict: the body runs again after a jittered backoff, up to
/// `client_options::max_retries` times (then `retry_limit_exceeded`). When only commuted refs
/// conflicted, the commute functions are re-applied to fresh values without re-running the
/// body. A lost reply (connection loss, timeout, expired session) is resolved through the
/// outcome record: the commit is applied exactly once, or `commit_outcome_unknown` is thrown if
/// the coordinator stays unreachable. Local refs are locked in a global order around the
/// `multi` and applied only if it commits.
///
/// An exception thrown by the body aborts the transaction (nothing is written) and propagates
/// unchanged. A validator that refuses a new value throws `validation_error`; nothing is written.

#include <algorithm>
#include <any>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dstm/client.hpp"
#include "dstm/detail/contention.hpp"
#include "dstm/detail/ref_core.hpp"
#include "dstm/error.hpp"
#include "dstm/testing/planted.hpp"

namespace dstm {

/// A validator refused a new value (errc::validator_rejected). Nothing was written.
class validation_error : public error {
 public:
  explicit validation_error(const std::string& what)
      : error(make_error_code(errc::validator_rejected), what) {}
};

/// Options of one `dosync`.
struct txn_options {
  /// Isolation level; unset: the client's default.
  std::optional<isolation> level;
  /// Retry limit; unset: the client's.
  std::optional<int> max_retries;
};

template <class T, class... Policies>
class ref;

namespace detail {
/// Thrown inside the engine to abandon a run of the body (doomed snapshot or conflict). Never
/// escapes `dosync`. A body must not swallow it (`catch (...)` without rethrow breaks retries).
struct retry_signal {
  bool conflict;      // false: doomed snapshot, retried at once
  bool gate = false;  // another client holds the contention gate: wait for it
};
}  // namespace detail

/// One run of a transaction body. Passed to the body by `dosync`; not thread-safe, not
/// copyable; valid only during the body.
class txn {
 public:
  txn(std::shared_ptr<client> c, isolation level, const detail::escalation* escalated = nullptr)
      : client_(std::move(c)), level_(level), escalated_(escalated) {}
  txn(const txn&) = delete;
  txn& operator=(const txn&) = delete;

  isolation level() const noexcept { return level_; }
  client& owner() const noexcept { return *client_; }

  /// The ref's value in this transaction: its own write if any, else the snapshot's.
  template <class T, class... P>
  const T& deref(const ref<T, P...>& r) {
    auto& e = access(r.core());
    e.body_read = true;
    return *static_cast<const T*>(current(e).get());
  }

  /// Sets the ref to `f(value, args...)` in this transaction; returns the new value.
  template <class T, class... P, class F, class... Args>
  const T& alter(const ref<T, P...>& r, F&& f, Args&&... args) {
    auto& e = access(r.core());
    reject_after_commute(e);
    e.body_read = true;
    const T& old = *static_cast<const T*>(current(e).get());
    return write(e, T(std::invoke(std::forward<F>(f), old, std::forward<Args>(args)...)));
  }

  /// Sets the ref to `v` in this transaction. The body does not read the old value, but the
  /// commit still fails if another transaction wrote the ref after this one's snapshot (first
  /// committer wins, as in Clojure), so the snapshot's version is taken here.
  template <class T, class... P, class V>
  const T& ref_set(const ref<T, P...>& r, V&& v) {
    auto& e = access(r.core());
    reject_after_commute(e);
    snapshot(e);
    return write(e, T(std::forward<V>(v)));
  }

  /// Applies `f(value, args...)` now and again at commit time to the then-latest value; a
  /// conflict on a commuted ref does not re-run the body. Use it for functions whose order does
  /// not matter (counters, set unions, CRDT merges). Returns the in-transaction value.
  template <class T, class... P, class F, class... Args>
  const T& commute(const ref<T, P...>& r, F&& f, Args&&... args) {
    auto& e = access(r.core());
    auto fn = [f = std::forward<F>(f), ... args = std::forward<Args>(args)](const void* v) {
      return std::shared_ptr<const void>(
          std::make_shared<const T>(std::invoke(f, *static_cast<const T*>(v), args...)));
    };
    if (!e.written) e.commutes.push_back(fn);
    auto next = fn(current(e).get());
    retire(e);
    e.value = next;
    e.has_value = true;
    return *static_cast<const T*>(next.get());
  }

  /// Protects the ref from concurrent writes until commit (snapshot isolation's cure for write
  /// skew); under `serializable` every read is protected anyway. Returns the value.
  template <class T, class... P>
  const T& ensure(const ref<T, P...>& r) {
    auto& e = access(r.core());
    e.ensured = !DSTM_PLANTED(drop_ensure);
    e.body_read = true;
    return *static_cast<const T*>(current(e).get());
  }

  /// Commits (called by `dosync`). Throws `detail::retry_signal` to run the body again.
  void commit();

 private:
  struct entry {
    std::shared_ptr<detail::ref_core> ref;
    // The snapshot: what the transaction read (coordinator: the cached value; local: version).
    std::shared_ptr<const detail::cached_value> read;
    std::uint64_t incarnation = 0;
    std::shared_ptr<const void> snapshot;
    std::uint64_t local_version = 0;
    bool has_snapshot = false;
    // What the transaction did.
    bool body_read = false;
    bool ensured = false;
    bool written = false;
    bool has_value = false;
    std::shared_ptr<const void> value;
    std::vector<std::function<std::shared_ptr<const void>(const void*)>> commutes;
  };

  entry& access(const std::shared_ptr<detail::ref_core>& core) {
    const bool local = core->kind() == storage_kind::local;
    if (core->owner() != client_ && !local) {
      throw error(make_error_code(errc::invalid_argument),
                  "ref " + core->path() + " belongs to another client than this transaction");
    }
    for (auto& e : entries_) {
      if (e.ref == core) return e;
      // Two handles of one znode are one ref: one snapshot, one write, one op in the multi.
      if (!local && e.ref->kind() != storage_kind::local && e.ref->path() == core->path()) {
        if (e.ref->value_type() != core->value_type()) {
          throw error(make_error_code(errc::invalid_argument),
                      "ref " + core->path() + " is used with two value types in one transaction");
        }
        return e;
      }
    }
    entries_.push_back(entry{});
    entries_.back().ref = core;
    return entries_.back();
  }

  static void reject_after_commute(const entry& e) {
    if (!e.commutes.empty()) {
      throw error(make_error_code(errc::invalid_argument),
                  "ref " + e.ref->path() + ": alter or ref_set after commute in one transaction");
    }
  }

  template <class T>
  const T& write(entry& e, T&& v) {
    auto p = std::make_shared<const T>(std::move(v));
    const T& out = *p;
    retire(e);
    e.value = std::move(p);
    e.has_value = true;
    e.written = true;
    return out;
  }

  /// Keeps a replaced in-transaction value alive until the transaction ends: the body may still
  /// hold the reference an earlier `alter` or `deref` returned.
  void retire(entry& e) {
    if (e.value) retired_.push_back(std::move(e.value));
  }

  /// A ref only commuted: its value is recomputed at commit, so it is neither validated nor
  /// checked, and a conflict on it re-applies the commutes instead of re-running the body.
  bool commute_only(const entry& e) const {
    return !e.commutes.empty() && !e.written && !checks(e);
  }

  /// The in-transaction value (a write) or the snapshot, reading it first if needed.
  const std::shared_ptr<const void>& current(entry& e) {
    if (e.has_value) return e.value;
    snapshot(e);
    return e.snapshot;
  }

  void snapshot(entry& e) {
    if (e.has_snapshot) return;
    if (e.ref->kind() == storage_kind::local) {
      // A locked local ref may belong to a commit whose multi has applied but whose local
      // value is not installed yet: wait for it rather than read half a commit.
      for (int attempt = 1; e.ref->commit_locked(); ++attempt) {
        client_->session()->sleep_for(client_->backoff_ns(attempt < 6 ? attempt : 6));
      }
      auto s = e.ref->local_read();
      e.snapshot = std::move(s.value);
      e.local_version = s.version;
    } else {
      e.incarnation = client_->cache().incarnation();
      e.read = client_->read(e.ref->path(), session());
      e.snapshot = detail::load_value(*client_, *e.ref, e.read);
    }
    e.has_snapshot = true;
    validate_snapshot();
  }

  /// Opacity: abandons the run if anything read so far changed since it was read. A local ref
  /// counts as changed while another commit holds it (checked before its version: a commit
  /// installs before it unlocks).
  ///
  /// Once the body has returned, its snapshot was consistent at its last read, which is all
  /// opacity asks; from then on only refs the commit will write or check matter (a stale one
  /// would fail the multi anyway: this saves the round trip). Refs only read under `snapshot`
  /// are not among them — that is what lets write skew through, as in Clojure — nor are
  /// commuted-only refs, whose values are recomputed. Held local refs are checked under their
  /// locks instead.
  void validate_snapshot() {
    if (DSTM_PLANTED(stale_snapshot)) return;
    const auto epoch = client_->cache().epoch();
    if (epoch == checked_epoch_ && !has_local_reads()) return;
    for (const auto& e : entries_) {
      if (!e.has_snapshot || (committing_ && !e.written && !checks(e))) continue;
      if (e.ref->kind() == storage_kind::local) {
        if (holding_locals_) continue;
        if (e.ref->commit_locked() || e.ref->local_version() != e.local_version)
          throw detail::retry_signal{false};
      } else if (!client_->cache().still_valid(e.ref->path(), e.incarnation, e.read->sequence())) {
        throw detail::retry_signal{false};
      }
    }
    checked_epoch_ = epoch;
  }

  /// The client's session, taken once per run of the body (reads check its state).
  any_coordinator& session() {
    if (!session_) session_ = client_->session();
    return *session_;
  }

  bool has_local_reads() const {
    return std::any_of(entries_.begin(), entries_.end(), [](const entry& e) {
      return e.has_snapshot && e.ref->kind() == storage_kind::local;
    });
  }

  bool checks(const entry& e) const {
    return e.ensured || (level_ == isolation::serializable && e.body_read);
  }

  /// Runs `ops` one request at a time (the planted bug `multi_one_by_one`): not atomic.
  static void apply_one_by_one(any_coordinator& s, std::span<const op> ops,
                               std::vector<op_result>& results, std::error_code& ec,
                               std::uint64_t& round_trips);
  /// Removes blobs a commit wrote that no pointer will ever name (best effort: what fails
  /// here is garbage for `collect_blobs`).
  static void drop_blobs(std::vector<std::pair<detail::blob_io*, std::string>>& blobs) {
    for (auto& [store, key] : blobs) {
      std::error_code ignored;
      store->remove(key, ignored);
    }
    blobs.clear();
  }

  std::shared_ptr<client> client_;
  std::shared_ptr<any_coordinator> session_;
  isolation level_;
  const detail::escalation* escalated_;
  std::vector<entry> entries_;
  std::vector<std::shared_ptr<const void>> retired_;
  std::uint64_t checked_epoch_ = ~std::uint64_t{0};
  bool committing_ = false;
  bool holding_locals_ = false;
};

inline void txn::apply_one_by_one(any_coordinator& s, std::span<const op> ops,
                                  std::vector<op_result>& results, std::error_code& ec,
                                  std::uint64_t& round_trips) {
  results.assign(ops.size(), op_result{});
  ec.clear();
  for (std::size_t i = 0; i < ops.size() && !ec; ++i) {
    ++round_trips;
    if (ops[i].type == op::kind::set) {
      results[i].stat = s.set(ops[i].path, ops[i].data, ops[i].version, ec);
    } else if (ops[i].type == op::kind::check) {
      auto st = s.exists(ops[i].path, {}, ec);
      if (!ec && !st) ec = make_error_code(coordinator_errc::no_node);
      if (!ec && ops[i].version != any_version && st->version != ops[i].version)
        ec = make_error_code(coordinator_errc::bad_version);
    }
    results[i].ec = ec;
  }
}

inline void txn::commit() {
  bool writes = false;
  for (auto& e : entries_) writes |= e.written || !e.commutes.empty();
  committing_ = true;
  // The commit checks a subset of what the body's last full check covered (see
  // validate_snapshot); when the cache's epoch has not moved since, nothing was invalidated
  // (every invalidation and every cache reset moves it), so that subset is still valid and the
  // check returns at once: a read-only transaction on a warm cache commits without relooking.
  validate_snapshot();
  if (!writes) {
    ++client_->counters().commits;
    ++client_->counters().read_only_commits;
    return;
  }

  // Local refs: lock in the global order, check their versions; released on every exit.
  std::vector<entry*> locals;
  for (auto& e : entries_) {
    if (e.ref->kind() == storage_kind::local && (e.written || !e.commutes.empty() || checks(e)))
      locals.push_back(&e);
  }
  std::sort(locals.begin(), locals.end(),
            [](const entry* a, const entry* b) { return a->ref->order() < b->ref->order(); });
  struct unlock_all {
    std::vector<entry*>& held;
    std::size_t n = 0;
    ~unlock_all() {
      for (std::size_t i = 0; i < n; ++i) held[i]->ref->unlock_commit();
    }
  } guard{locals};
  for (auto* e : locals) {
    for (int attempt = 1; !e->ref->try_lock_commit(); ++attempt) {
      client_->session()->sleep_for(client_->backoff_ns(attempt < 6 ? attempt : 6));
    }
    ++guard.n;
    if (e->has_snapshot && !commute_only(*e) && e->ref->local_version() != e->local_version)
      throw detail::retry_signal{true};
    if (!e->commutes.empty() && !e->written) {
      auto base = e->ref->local_read().value;
      for (auto& f : e->commutes) base = f(base.get());
      e->value = std::move(base);
    }
  }
  holding_locals_ = true;

  int reapplies = 0;
  for (;;) {  // commit attempts: only commute re-application loops here
    std::vector<op> ops;
    std::vector<entry*> op_entry;
    std::vector<std::string> rearm;
    std::vector<std::size_t> external_ops;  // ops whose data is a blob written below
    for (auto& e : entries_) {
      if (e.ref->kind() == storage_kind::local) continue;
      const bool commuted = !e.commutes.empty() && !e.written;
      const bool blind =
          DSTM_PLANTED(skip_version_check) || (commuted && DSTM_PLANTED(commute_no_reread));
      if (commuted && DSTM_PLANTED(commute_no_reread)) {
        auto base = current(e);  // the planted bug: the body's value, never re-read
        e.value = std::move(base);
      } else if (commuted) {
        // The latest committed value, not the snapshot: commutes apply to whatever is there.
        if (!e.body_read || !checks(e)) {
          e.incarnation = client_->cache().incarnation();
          e.read = client_->read(e.ref->path());
          auto base = detail::load_value(*client_, *e.ref, e.read);
          for (auto& f : e.commutes) base = f(base.get());
          e.value = std::move(base);
        } else {
          snapshot(e);
          auto base = e.snapshot;
          for (auto& f : e.commutes) base = f(base.get());
          e.value = std::move(base);
        }
      }
      if (e.written || commuted) {
        e.ref->validate(e.value.get());
        const std::int32_t version = e.read && !blind ? e.read->stat().version : any_version;
        if (e.ref->kind() == storage_kind::external) {
          external_ops.push_back(ops.size());
          ops.push_back(op::set(e.ref->path(), {}, version));
        } else {
          ops.push_back(op::set(
              e.ref->path(), detail::seal(client_->id(), e.ref->encode(e.value.get())), version));
        }
        op_entry.push_back(&e);
        rearm.push_back(e.ref->path());
      } else if (checks(e) && e.read && !blind) {
        ops.push_back(op::check(e.ref->path(), e.read->stat().version));
        op_entry.push_back(&e);
      }
    }
    for (auto* e : locals) {
      if (e->written || !e->commutes.empty()) e->ref->validate(e->value.get());
    }

    // The contention gate (detail/contention.hpp): checked at the version this client last
    // saw, from the cache; reopened by an escalated transaction's own commit.
    const std::size_t gate_op = ops.size();
    if (escalated_ != nullptr) {
      ops.push_back(op::set(client_->gate_path(), "", escalated_->gate_version()));
    } else {
      auto gate = client_->read(client_->gate_path());
      if (!gate->data().empty()) throw detail::retry_signal{true, true};
      ops.push_back(op::check(client_->gate_path(), gate->stat().version));
    }

    auto lane = client_->acquire_lane();
    const auto seq = client_->next_sequence();

    // External values: a fresh blob per written ref, before the multi points to it.
    std::vector<std::pair<detail::blob_io*, std::string>> new_blobs;
    for (std::size_t i : external_ops) {
      auto& e = *op_entry[i];
      auto key = detail::blob_key(e.ref->path(), client_->id(),
                                  lane.path.substr(lane.path.rfind('/') + 1), seq);
      std::error_code ec;
      e.ref->blobs()->put(key, e.ref->encode(e.value.get()), ec);
      if (ec) {
        drop_blobs(new_blobs);
        client_->release_lane(std::move(lane));
        throw error(ec, "commit: ref " + e.ref->path() + ": writing blob " + key);
      }
      ops[i].data = detail::seal(client_->id(), key);
      new_blobs.emplace_back(e.ref->blobs(), std::move(key));
    }

    // The planted bug `blind_retry` leaves the outcome record out, and with it the only way
    // to tell a lost reply from a lost request.
    const bool recorded = !DSTM_PLANTED(blind_retry);
    if (recorded) ops.push_back(op::set(lane.path, std::to_string(seq), lane.version));

    std::vector<op_result> results;
    std::error_code ec;
    auto session = client_->session();
    const auto incarnation = client_->cache().incarnation();
    if (DSTM_PLANTED(multi_one_by_one)) {
      std::uint64_t trips = 0;
      apply_one_by_one(*session, ops, results, ec, trips);
      client_->counters().round_trips += trips;
    } else {
      const auto sent = session->now();
      client_->counters().round_trips += static_cast<std::uint64_t>(
          client_->commit_multi(*session, ops, results, ec, rearm, incarnation));
      if (!ec || ec == coordinator_errc::bad_version) {
        client_->note_commit_round_trip(session->now() - sent);
      }
    }

    bool applied = !ec;
    // A refused multi names the op that failed (the later ones say runtime_inconsistency). A
    // reply that names none — seen from a three-server ensemble while its leader was killed,
    // every op marked runtime_inconsistency — cannot be told from a conflict on the outcome
    // record: it is settled through the record, like a lost reply.
    const bool unattributed =
        ec && !results.empty() && std::none_of(results.begin(), results.end(), [](const auto& r) {
          return r.ec && r.ec != coordinator_errc::runtime_inconsistency;
        });
    if (ec && (outcome_unknown(ec) || ec == coordinator_errc::session_expired ||
               ec == coordinator_errc::session_moved || unattributed)) {
      if (!recorded) {
        client_->release_lane(std::move(lane));
        throw detail::retry_signal{true};
      }
      // Throws commit_outcome_unknown if the record stays unreadable; the new blobs stay
      // then (the commit may have applied), and the collector decides them later.
      applied = client_->resolve_outcome(lane, seq);
      if (!applied) {
        drop_blobs(new_blobs);
        client_->release_lane(std::move(lane));
        throw detail::retry_signal{true};
      }
    } else if (applied && recorded) {
      lane.version = results.back().stat.version;
      lane.sequence = seq;
    }

    if (applied) {
      client_->release_lane(std::move(lane));
      // The versions just replaced are unreachable now: delete their blobs. A reader still
      // holding an old pointer re-reads it (detail::load_value).
      for (std::size_t i : external_ops) {
        const auto& e = *op_entry[i];
        if (!e.read) continue;
        try {
          std::error_code ignored;
          e.ref->blobs()->remove(detail::unseal(e.read->data(), e.ref->path()), ignored);
        } catch (const serialization_error&) {
        }
      }
      std::vector<std::pair<entry*, std::shared_ptr<const void>>> installed;
      for (auto* e : locals) {
        if (e->written || !e->commutes.empty()) {
          installed.emplace_back(e, e->ref->local_read().value);
          e->ref->local_install(e->value);
        }
      }
      // Watches run after the locks are released: a watch may run a transaction on the ref.
      for (std::size_t i = 0; i < guard.n; ++i) locals[i]->ref->unlock_commit();
      guard.n = 0;
      holding_locals_ = false;
      ++client_->counters().commits;
      for (auto& [e, old] : installed) e->ref->changed(old, e->value);
      return;
    }

    drop_blobs(new_blobs);
    // Refused: which op failed? ZooKeeper reports the first failing op's error.
    std::size_t failed = results.size();
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i].ec && results[i].ec != coordinator_errc::runtime_inconsistency) {
        failed = i;
        break;
      }
    }
    const bool record_failed = recorded && failed == ops.size() - 1;
    if (record_failed && ec == coordinator_errc::bad_version) {
      // Our own outcome record moved (e.g. fenced by an earlier incarnation): re-read it.
      std::error_code gec;
      auto n = session->get(lane.path, {}, gec);
      ++client_->counters().round_trips;
      if (!gec) {
        lane.version = n.stat.version;
        lane.sequence = client::parse_sequence(n.data);
      }
      client_->release_lane(std::move(lane));
      continue;
    }
    if (record_failed && ec == coordinator_errc::no_node) {
      // Our outcome record was removed (by an operator, or a collector that judged this
      // client gone): nothing was applied; recreate it and commit again.
      client_->open_lane(lane);
      client_->release_lane(std::move(lane));
      continue;
    }
    client_->release_lane(std::move(lane));
    if (failed == gate_op) {
      if (ec == coordinator_errc::no_node) {
        client_->ensure_path(client_->gate_path());  // removed by hand: put it back
        continue;
      }
      // The gate moved since this client last saw it: someone escalated (or, for an escalated
      // transaction, its hold was lost). Read it afresh and wait for it.
      client_->fetch(client_->gate_path());
      throw detail::retry_signal{true, true};
    }
    if (ec != coordinator_errc::bad_version) {
      throw coordinator_error(ec, failed < op_entry.size()
                                      ? "commit: ref " + op_entry[failed]->ref->path()
                                      : std::string("commit"));
    }
    ++client_->counters().conflicts;
    entry* culprit = failed < op_entry.size() ? op_entry[failed] : nullptr;
    if (culprit && commute_only(*culprit) && !DSTM_PLANTED(commute_no_reread)) {
      ++client_->counters().commute_reapplies;
      // Another writer won the race: back off (jittered, growing) as a re-run would, so that
      // commuters on one hot ref do not re-apply in lockstep and collide again at once.
      client_->session()->sleep_for(client_->conflict_backoff_ns(std::min(++reapplies, 8)));
      // The next attempt reads the ref through the cache: the winner's write invalidated our
      // entry before the refusal reached us (one session, one order), and the re-arming read
      // sent behind the refused multi (where the coordinator pipelines it) already brings the
      // fresh value — the cache waits for it rather than reading again.
      continue;
    }
    throw detail::retry_signal{true};
  }
}

/// Runs `body(tx)` in a transaction and returns what it returns. Conflicts re-run the body
/// (it must be free of side effects other than through `tx`); see the file comment for the
/// guarantees and what is thrown.
template <class Body>
auto dosync(const std::shared_ptr<client>& c, Body&& body, txn_options options = {})
    -> std::invoke_result_t<Body&, txn&> {
  using result = std::invoke_result_t<Body&, txn&>;
  const auto level = options.level.value_or(c->options().default_isolation);
  const int max_retries = options.max_retries.value_or(c->options().max_retries);
  const int escalate_after = c->options().escalate_after;
  int conflicts = 0, gate_waits = 0, transient = 0;
  std::optional<detail::escalation> escalated;
  for (int attempt = 0;; ++attempt) {
    enum class again { doomed, conflict, gate, transient } why = again::doomed;
    std::string last_error;
    {
      try {
        if (escalated) {
          escalated->hold();
        } else if (escalate_after > 0 && conflicts >= escalate_after) {
          escalated.emplace(*c);  // queues: the next runs cannot lose to optimistic commits
        }
        txn tx(c, level, escalated ? &*escalated : nullptr);
        if constexpr (std::is_void_v<result>) {
          body(tx);
          tx.commit();
          return;
        } else {
          result r = body(tx);
          tx.commit();
          return r;
        }
      } catch (const detail::retry_signal& signal) {
        why = signal.gate ? again::gate : signal.conflict ? again::conflict : again::doomed;
      } catch (const coordinator_error& e) {
        // A read, or the commit's bookkeeping before its multi, could not reach the
        // coordinator: nothing was applied (a lost commit reply is resolved through the
        // outcome record, never thrown), so the body may run again, on a new session if need
        // be. Other coordinator errors (closing, not_authorized, ...) are the caller's.
        const auto ec = e.code();
        if (!outcome_unknown(ec) && ec != coordinator_errc::session_expired &&
            ec != coordinator_errc::session_moved) {
          throw;
        }
        why = again::transient;
        last_error = e.what();
      }
    }
    // Waits happen outside the handler: a simulated thread must not switch while the C++
    // runtime holds an exception in flight for it.
    ++c->counters().retries;
    if (attempt >= max_retries) {
      throw error(make_error_code(errc::retry_limit_exceeded),
                  "transaction gave up after " + std::to_string(attempt + 1) + " runs" +
                      (last_error.empty() ? "" : " (last: " + last_error + ")"));
    }
    switch (why) {
      case again::gate:
        ++c->counters().gate_waits;
        detail::wait_for_gate(*c, ++gate_waits);
        break;
      case again::conflict:
        ++conflicts;
        // Escalated: nobody else commits now; only the stale read's invalidation is awaited.
        c->session()->sleep_for(escalated ? c->backoff_ns(1) : c->conflict_backoff_ns(conflicts));
        break;
      case again::transient:
        c->session()->sleep_for(c->backoff_ns(std::min(++transient, 8)));
        break;
      case again::doomed:
        break;
    }
  }
}

/// A nested transaction joins the one it runs in: `dosync(tx, body)` is `body(tx)`.
template <class Body>
auto dosync(txn& tx, Body&& body) -> std::invoke_result_t<Body&, txn&> {
  return body(tx);
}

}  // namespace dstm
