#pragma once
/// \file
/// A deterministic generator of strictly serializable transaction histories, for testing and
/// benchmarking the isolation checker (and anything that consumes Elle-style histories).
///
/// Several processes invoke random transactions; each transaction takes effect atomically at
/// the moment of its completion event, against an in-memory model of the keys. Every history it
/// produces is therefore strict serializable, so the checker must call it valid at every level.
/// Transactions may fail (no effect) or end info (took effect or not, decided by a coin; the
/// process then retires and a fresh process number replaces it, as in Jepsen). Keys rotate: after
/// `writes_per_key` writes a key is retired and a new one takes its slot, so lists stay short.
///
/// Same seed, same history. The generator uses its own xorshift-style PRNG and no standard
/// distributions, so histories are identical across standard libraries.

#include <cstdint>
#include <dstm/check/isolation/txn_history.hpp>
#include <dstm/check/isolation/types.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace dstm::check {

/// The shape of a generated history.
struct history_generator_options {
  workload kind = workload::list_append;
  std::uint64_t transactions = 1000;
  std::uint32_t processes = 5;
  std::uint32_t min_ops_per_txn = 1;  ///< each transaction has min..max micro-ops
  std::uint32_t max_ops_per_txn = 4;
  std::uint32_t active_keys = 8;      ///< keys in use at once
  std::uint32_t writes_per_key = 16;  ///< writes before a key is retired
  std::uint32_t read_percent = 50;    ///< chance that a micro-op is a read
  std::uint32_t fail_percent = 0;     ///< chance that a transaction fails
  std::uint32_t info_percent = 0;     ///< chance that a transaction ends info
};

/// One generated micro-op; `list` is a list-append read's result, `nil` a read not (yet) known
/// or an rw-register read of an unwritten key.
struct generated_op {
  op_kind kind = op_kind::read;
  std::int64_t key = 0;
  std::int64_t value = 0;
  bool nil = true;
  std::vector<std::int64_t> list;
};

/// One generated event. `type` is "invoke", "ok", "fail" or "info".
struct generated_event {
  std::int64_t process = 0;
  std::string type;
  std::vector<generated_op> ops;
  std::uint64_t txn = 0;  ///< which transaction (numbered by invoke order)
};

/// Writes an event as one JSON line in Elle's shape (keys are integers).
inline void write_generated_event(std::ostream& out, const generated_event& e, workload kind) {
  std::string s = "{\"process\": " + std::to_string(e.process) + ", \"type\": \"" + e.type +
                  "\", \"f\": \"txn\", \"value\": [";
  for (std::size_t i = 0; i < e.ops.size(); ++i) {
    const generated_op& op = e.ops[i];
    if (i > 0) s += ", ";
    s += op.kind == op_kind::append  ? "[\"append\", "
         : op.kind == op_kind::write ? "[\"w\", "
                                     : "[\"r\", ";
    s += std::to_string(op.key) + ", ";
    if (op.kind != op_kind::read) {
      s += std::to_string(op.value);
    } else if (op.nil) {
      s += "null";
    } else if (kind == workload::rw_register) {
      s += std::to_string(op.value);
    } else {
      s += "[";
      for (std::size_t j = 0; j < op.list.size(); ++j) {
        if (j > 0) s += ", ";
        s += std::to_string(op.list[j]);
      }
      s += "]";
    }
    s += "]";
  }
  s += "]}\n";
  out << s;
}

/// Produces the events of one history, one at a time.
class history_generator {
 public:
  history_generator(const history_generator_options& options, std::uint64_t seed)
      : opts_(options), state_(seed ^ 0x6A09E667F3BCC908ULL) {
    if (opts_.processes == 0) opts_.processes = 1;
    if (opts_.min_ops_per_txn == 0) opts_.min_ops_per_txn = 1;
    if (opts_.max_ops_per_txn < opts_.min_ops_per_txn)
      opts_.max_ops_per_txn = opts_.min_ops_per_txn;
    if (opts_.active_keys == 0) opts_.active_keys = 1;
    if (opts_.writes_per_key == 0) opts_.writes_per_key = 1;
    for (std::uint32_t p = 0; p < opts_.processes; ++p) processes_.push_back({p, false, {}, 0});
    for (std::uint32_t i = 0; i < opts_.active_keys; ++i) slots_.push_back(new_key());
  }

  /// The next event, or false when all transactions have been invoked and completed.
  bool next(generated_event& out) {
    const bool may_invoke = invoked_ < opts_.transactions;
    if (!may_invoke && pending_ == 0) return false;
    // Pick a process that can act: any process may complete, only idle ones when invoking.
    for (;;) {
      process_state& p = processes_[below(processes_.size())];
      if (p.pending) {
        complete(p, out);
        return true;
      }
      if (may_invoke) {
        invoke(p, out);
        return true;
      }
    }
  }

 private:
  struct key_state {
    std::int64_t id = 0;
    std::uint32_t writes = 0;
    std::int64_t register_value = 0;
    bool written = false;
    std::vector<std::int64_t> list;
  };
  struct process_state {
    std::int64_t id;
    bool pending;
    std::vector<generated_op> ops;
    std::uint64_t txn;
  };

  std::uint64_t random() noexcept {
    // splitmix64: tiny, full-period, and good enough to shuffle test workloads.
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) noexcept { return static_cast<std::size_t>(random() % n); }
  bool percent(std::uint32_t p) noexcept { return below(100) < p; }

  std::size_t new_key() {
    keys_.push_back({static_cast<std::int64_t>(keys_.size()), 0, 0, false, {}});
    return keys_.size() - 1;
  }

  void invoke(process_state& p, generated_event& out) {
    p.ops.clear();
    const std::size_t n =
        opts_.min_ops_per_txn + below(opts_.max_ops_per_txn - opts_.min_ops_per_txn + 1);
    for (std::size_t i = 0; i < n; ++i) {
      generated_op op;
      std::size_t& slot = slots_[below(slots_.size())];
      key_state& k = keys_[slot];
      op.key = k.id;
      if (percent(opts_.read_percent)) {
        op.kind = op_kind::read;
      } else {
        op.kind = opts_.kind == workload::list_append ? op_kind::append : op_kind::write;
        op.value = static_cast<std::int64_t>(++k.writes);
        op.nil = false;
        // Retire the key once its writes are handed out; writes already invoked still apply.
        if (k.writes >= opts_.writes_per_key) slot = new_key();
      }
      p.ops.push_back(std::move(op));
    }
    p.pending = true;
    p.txn = invoked_++;
    ++pending_;
    out.process = p.id;
    out.type = "invoke";
    out.ops = p.ops;
    out.txn = p.txn;
  }

  void complete(process_state& p, generated_event& out) {
    p.pending = false;
    --pending_;
    out.process = p.id;
    out.txn = p.txn;
    out.ops = p.ops;
    if (percent(opts_.fail_percent)) {
      out.type = "fail";
      return;
    }
    if (percent(opts_.info_percent)) {
      out.type = "info";
      if (percent(50)) apply(out.ops);
      for (generated_op& op : out.ops) {
        if (op.kind == op_kind::read) {
          op.nil = true;
          op.list.clear();
        }
      }
      p.id += opts_.processes;  // an info process never issues again
      return;
    }
    out.type = "ok";
    apply(out.ops);
  }

  void apply(std::vector<generated_op>& ops) {
    for (generated_op& op : ops) {
      key_state& k = keys_[static_cast<std::size_t>(op.key)];
      if (op.kind == op_kind::append) {
        k.list.push_back(op.value);
      } else if (op.kind == op_kind::write) {
        k.register_value = op.value;
        k.written = true;
      } else if (opts_.kind == workload::list_append) {
        op.nil = false;
        op.list = k.list;
      } else {
        op.nil = !k.written;
        op.value = k.register_value;
      }
    }
  }

  history_generator_options opts_;
  std::uint64_t state_;
  std::vector<process_state> processes_;
  std::vector<key_state> keys_;
  std::vector<std::size_t> slots_;
  std::uint64_t invoked_ = 0;
  std::uint64_t pending_ = 0;
};

}  // namespace dstm::check
