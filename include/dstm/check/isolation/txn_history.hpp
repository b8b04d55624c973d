#pragma once
/// \file
/// The compact in-memory form of a transaction history, and its JSON-lines reader.
///
/// A history line looks like Elle's:
/// `{"process": 0, "type": "ok", "f": "txn", "value": [["append", "x", 3], ["r", "y", [1, 2]]]}`.
/// Keys (strings or integers) are interned to dense ids, values are `int64`, micro-ops live in
/// one flat vector, and appended/written values are indexed by (key, value) in an open-addressing
/// table. List-append reads are not stored as lists: every read of a key is a prefix of one of
/// that key's *branches* (normally exactly one: the longest list read), so a read is a
/// (branch, length) pair. A key gets a second branch only when two reads disagree, which is an
/// incompatible-order anomaly. Memory is therefore proportional to the number of micro-ops plus
/// the number of distinct list elements, not to the total length of all reads.

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <dstm/check/detail/jsonl.hpp>
#include <dstm/check/isolation/types.hpp>
#include <dstm/error.hpp>
#include <exception>
#include <istream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace dstm::check {

/// A transaction history that cannot be read: malformed JSON, a micro-op of the wrong workload,
/// a completion without an invoke, a value written twice. `line()` is 1-based (0: not tied to a
/// line) and `reason()` says what is wrong in words.
class isolation_input_error : public dstm::error {
 public:
  isolation_input_error(std::uint64_t line, const std::string& reason)
      : error(make_error_code(errc::invalid_argument),
              line ? "line " + std::to_string(line) + ": " + reason : reason),
        line_(line),
        reason_(reason) {}
  std::uint64_t line() const noexcept { return line_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::uint64_t line_;
  std::string reason_;
};

/// How a transaction ended: committed, definitely not committed, or unknown.
enum class txn_status : std::uint8_t { ok, fail, info };

/// The kind of a micro-op.
enum class op_kind : std::uint8_t { append, write, read };

/// One transaction: its process, its micro-ops (a range of `transaction_history::ops()`), and
/// the lines of its invoke and completion (the history's realtime order).
struct txn_record {
  std::int64_t process = 0;
  std::uint32_t first_op = 0;
  std::uint32_t op_count = 0;
  std::uint64_t invoke_line = 0;
  std::uint64_t complete_line = 0;  ///< 0: never completed (counts as info)
  txn_status status = txn_status::info;
};

/// One micro-op, 16 bytes.
///
/// `value` is the appended or written value; for a read it is the value read (rw-register) or
/// a packed list reference (list-append, see `transaction_history::read_list`). A read's result
/// is `known` only in a transaction that completed ok; `nil` marks a null register read.
struct micro_op {
  std::int64_t value = 0;
  std::uint32_t key = 0;
  op_kind kind = op_kind::read;
  bool known = false;
  bool nil = false;
};

/// A write or append: who wrote `value` to `key`, and whether it was that transaction's last
/// write of the key (an earlier one is an intermediate version nobody else may read).
struct write_record {
  std::int64_t value = 0;
  std::uint32_t key = 0;
  std::uint32_t txn = 0;
  std::uint32_t op = 0;  ///< index within the transaction's micro-ops
  bool final_write = true;
};

/// A list-append key's maximal observed list. `witness` is a transaction whose read returned
/// the whole branch.
struct list_branch {
  std::uint32_t key = 0;
  std::uint32_t witness = 0;
  std::uint32_t next_of_key = 0;  ///< next branch of the same key, or `no_branch`
  std::vector<std::int64_t> elements;
};

/// A micro-op as handed to `transaction_history::invoke` and `complete`.
struct op_input {
  op_kind kind = op_kind::read;
  std::uint32_t key = 0;
  std::int64_t value = 0;              ///< append/write value, or rw-register read value
  bool nil = true;                     ///< read: null (unknown, or an empty / unwritten key)
  std::span<const std::int64_t> list;  ///< list-append read result
};

namespace detail {

inline std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// Fibonacci hashing: one multiply; the high bits are well mixed, so take those.
inline std::uint64_t fib_hash(std::uint64_t x) noexcept {
  return (x * 0x9E3779B97F4A7C15ULL) >> 29;
}

inline std::uint64_t hash_bytes(std::string_view s) noexcept {
  std::uint64_t h = 0xCBF29CE484222325ULL ^ s.size();
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = mix64(h ^ w);
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  return mix64(h ^ tail);
}

/// Interns keys: integer and string keys are distinct even when they print alike.
class key_table {
 public:
  std::uint32_t intern_int(std::int64_t k) {
    // A history uses a few keys at a time: a small direct-mapped cache answers most lookups
    // without touching the table, which grows with every key ever used.
    recent_int& r = recent_ints_[static_cast<std::uint64_t>(k) % recent_ints_.size()];
    if (r.id_plus1 != 0 && r.key == k) return r.id_plus1 - 1;
    const std::uint32_t id = intern_int_slow(k);
    r = {k, id + 1};
    return id;
  }
  std::uint32_t intern_int_slow(std::int64_t k) {
    // Integer keys skip the byte-string table: one probe sequence over (key, id) pairs.
    if ((int_count_ + 1) * 2 > int_slots_.size()) grow_ints();
    const std::size_t mask = int_slots_.size() - 1;
    for (std::size_t i = fib_hash(static_cast<std::uint64_t>(k)) & mask;; i = (i + 1) & mask) {
      int_slot& s = int_slots_[i];
      if (s.id_plus1 == 0) {
        // A new key: its id and tagged bytes (for `display`); the byte-string table is for
        // string keys only.
        char bytes[9];
        bytes[0] = 'i';
        std::memcpy(bytes + 1, &k, 8);
        s.key = k;
        s.id_plus1 = add({bytes, 9}, 0) + 1;
        ++int_count_;
        return s.id_plus1 - 1;
      }
      if (s.key == k) return s.id_plus1 - 1;
    }
  }
  std::uint32_t intern_string(std::string_view k) {
    scratch_.assign(1, 's');
    scratch_.append(k);
    return intern(scratch_);
  }
  std::size_t size() const noexcept { return spans_.size(); }
  /// Interns key `id` of another table (the parallel reader's per-block tables), keeping its
  /// kind: ids are given in the order of these calls, as they would have been in `other`.
  std::uint32_t intern_from(const key_table& other, std::uint32_t id) {
    const auto [off, len] = other.spans_[id];
    const std::string_view tagged(other.arena_.data() + off, len);
    if (tagged[0] == 'i') {
      std::int64_t v;
      std::memcpy(&v, tagged.data() + 1, 8);
      return intern_int(v);
    }
    return intern(tagged);
  }
  /// Forgets every key and keeps the memory (a block's table is reused for the next block).
  void clear() noexcept {
    recent_ints_.fill(recent_int{});
    std::fill(int_slots_.begin(), int_slots_.end(), int_slot{});
    std::fill(slots_.begin(), slots_.end(), 0);
    int_count_ = 0;
    string_count_ = 0;
    arena_.clear();
    spans_.clear();
    hashes_.clear();
  }
  /// The key as a reader expects it: the string itself, or the integer in decimal.
  std::string display(std::uint32_t id) const {
    const auto [off, len] = spans_[id];
    if (arena_[off] == 'i') {
      std::int64_t v;
      std::memcpy(&v, arena_.data() + off + 1, 8);
      return std::to_string(v);
    }
    return arena_.substr(off + 1, len - 1);
  }

 private:
  std::uint32_t add(std::string_view tagged, std::uint64_t hash) {
    const auto id = static_cast<std::uint32_t>(spans_.size());
    spans_.emplace_back(static_cast<std::uint32_t>(arena_.size()),
                        static_cast<std::uint32_t>(tagged.size()));
    hashes_.push_back(hash);
    arena_.append(tagged);
    return id;
  }
  std::uint32_t intern(std::string_view tagged) {
    if ((string_count_ + 1) * 10 > slots_.size() * 7) grow();
    const std::uint64_t h = hash_bytes(tagged);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const std::uint32_t s = slots_[i];
      if (s == 0) {
        ++string_count_;
        const std::uint32_t id = add(tagged, h);
        slots_[i] = id + 1;
        return id;
      }
      const auto [off, len] = spans_[s - 1];
      if (hashes_[s - 1] == h && std::string_view(arena_).substr(off, len) == tagged) return s - 1;
    }
  }
  void grow() {
    std::vector<std::uint32_t> slots(slots_.empty() ? 64 : slots_.size() * 2, 0);
    const std::size_t mask = slots.size() - 1;
    for (std::uint32_t id = 0; id < spans_.size(); ++id) {
      if (arena_[spans_[id].first] == 'i') continue;  // integer keys have their own table
      std::size_t i = hashes_[id] & mask;
      while (slots[i] != 0) i = (i + 1) & mask;
      slots[i] = id + 1;
    }
    slots_.swap(slots);
  }

  struct int_slot {
    std::int64_t key = 0;
    std::uint32_t id_plus1 = 0;
  };
  void grow_ints() {
    std::vector<int_slot> slots(int_slots_.empty() ? 64 : int_slots_.size() * 2);
    const std::size_t mask = slots.size() - 1;
    for (const int_slot& s : int_slots_) {
      if (s.id_plus1 == 0) continue;
      std::size_t i = fib_hash(static_cast<std::uint64_t>(s.key)) & mask;
      while (slots[i].id_plus1 != 0) i = (i + 1) & mask;
      slots[i] = s;
    }
    int_slots_.swap(slots);
  }

  struct recent_int {
    std::int64_t key = 0;
    std::uint32_t id_plus1 = 0;
  };
  std::array<recent_int, 256> recent_ints_{};
  std::vector<int_slot> int_slots_;
  std::size_t int_count_ = 0;
  std::size_t string_count_ = 0;
  std::string arena_;
  std::string scratch_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> spans_;
  std::vector<std::uint64_t> hashes_;
  std::vector<std::uint32_t> slots_;
};

}  // namespace detail

/// A parsed transaction history, built event by event (by `read_transaction_history` or by a
/// caller recording transactions directly).
///
/// Building enforces the format's rules and throws `isolation_input_error` (with the line passed
/// in) when one is broken: a process has at most one pending transaction; a completion matches
/// the invoke's micro-ops; every (key, value) is written at most once in the whole history (the
/// checker infers who wrote what from values, as Elle does). Not thread-safe.
class transaction_history {
 public:
  static constexpr std::uint32_t no_branch = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::uint32_t no_write = std::numeric_limits<std::uint32_t>::max();

  explicit transaction_history(workload w) : workload_(w) {}

  workload kind() const noexcept { return workload_; }

  /// Makes room for about `transactions` transactions of `ops` micro-ops in all, so that a large
  /// history is not copied as it grows. Room never used costs address space, not memory.
  void reserve(std::size_t transactions, std::size_t ops) {
    txns_.reserve(transactions);
    completion_order_.reserve(transactions);
    ops_.reserve(ops);
    writes_.reserve(ops / 2);
  }

  /// Interns a key; integer 1 and string "1" are different keys.
  std::uint32_t intern_key(std::int64_t k) { return keys_.intern_int(k); }
  std::uint32_t intern_key(std::string_view k) { return keys_.intern_string(k); }
  /// Interns key `id` of `other` (how the parallel reader maps a block's keys to the history's).
  std::uint32_t intern_key(const detail::key_table& other, std::uint32_t id) {
    return keys_.intern_from(other, id);
  }
  std::size_t key_count() const noexcept { return keys_.size(); }
  std::string key_name(std::uint32_t key) const { return keys_.display(key); }

  /// Records that `process` invoked a transaction of `ops` (reads' results unknown).
  void invoke(std::int64_t process, std::span<const op_input> ops, std::uint64_t line) {
    if (const std::uint32_t p = pending(process); p != no_txn) {
      fail(line, "process " + std::to_string(process) +
                     " invoked a transaction while its transaction invoked at line " +
                     std::to_string(txns_[p].invoke_line) + " is still pending");
    }
    if (ops_.size() + ops.size() > std::numeric_limits<std::uint32_t>::max() ||
        txns_.size() >= no_txn - 1) {
      fail(line, "history too large (more than 2^32 micro-ops)");
    }
    const auto id = static_cast<std::uint32_t>(txns_.size());
    txn_record t;
    t.process = process;
    t.first_op = static_cast<std::uint32_t>(ops_.size());
    t.op_count = static_cast<std::uint32_t>(ops.size());
    t.invoke_line = line;
    txns_.push_back(t);
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const op_input& in = ops[i];
      check_kind(in.kind, line);
      micro_op op;
      op.kind = in.kind;
      op.key = in.key;
      if (in.kind != op_kind::read) {
        op.value = in.value;
        add_write(in.key, in.value, id, static_cast<std::uint32_t>(i), is_final(ops, i), line);
      }
      ops_.push_back(op);
    }
    set_pending(process, id);
  }

  /// Records the completion of `process`'s pending transaction. For `ok`, `ops` must repeat the
  /// invoke's micro-ops with the reads' results filled in; for `fail` and `info` they are ignored
  /// (a failed transaction's reads mean nothing; an info one's are unknown).
  void complete(std::int64_t process, txn_status status, std::span<const op_input> ops,
                std::uint64_t line) {
    const std::uint32_t id = pending(process);
    if (id == no_txn) {
      fail(line, "process " + std::to_string(process) +
                     " completed a transaction it never invoked (every transaction needs an "
                     "invoke event first)");
    }
    set_pending(process, no_txn);
    txn_record& t = txns_[id];
    t.complete_line = line;
    t.status = status;
    if (status != txn_status::ok) return;
    if (ops.size() != t.op_count) {
      fail(line, "the ok completion has " + std::to_string(ops.size()) +
                     " micro-ops but its invoke (line " + std::to_string(t.invoke_line) + ") has " +
                     std::to_string(t.op_count));
    }
    completion_order_.push_back(id);
    for (std::size_t i = 0; i < ops.size(); ++i) {
      micro_op& op = ops_[t.first_op + i];
      const op_input& in = ops[i];
      if (in.kind != op.kind || in.key != op.key ||
          (in.kind != op_kind::read && in.value != op.value)) {
        fail(line, "micro-op " + std::to_string(i + 1) +
                       " of the ok completion differs from its invoke (line " +
                       std::to_string(t.invoke_line) + ")");
      }
      if (in.kind != op_kind::read) continue;
      op.known = true;
      if (workload_ == workload::rw_register) {
        op.nil = in.nil;
        op.value = in.nil ? 0 : in.value;
      } else {
        op.value = add_read(in.key, in.nil ? std::span<const std::int64_t>{} : in.list, id);
      }
    }
  }

  std::span<const txn_record> txns() const noexcept { return txns_; }
  std::span<const micro_op> ops() const noexcept { return ops_; }
  std::span<const micro_op> ops(const txn_record& t) const noexcept {
    return std::span<const micro_op>(ops_).subspan(t.first_op, t.op_count);
  }
  std::span<const micro_op> ops(std::uint32_t txn) const noexcept { return ops(txns_[txn]); }

  /// Every write/append, in history order.
  std::span<const write_record> writes() const noexcept { return writes_; }

  /// The write of `value` to `key`, or `no_write`.
  std::uint32_t find_write(std::uint32_t key, std::int64_t value) const noexcept {
    if (key >= key_writes_.size() || key_writes_[key].count == 0) return no_write;
    const key_write_table& t = key_writes_[key];
    const std::uint32_t mask = (std::uint32_t{1} << t.bits) - 1;
    for (std::uint32_t i = slot_of(value, t.bits);; i = (i + 1) & mask) {
      const std::uint32_t id_plus1 = write_slab_[t.offset + i];
      if (id_plus1 == 0) return no_write;
      if (writes_[id_plus1 - 1].value == value) return id_plus1 - 1;
    }
  }

  /// List-append: the branches (maximal lists read) of all keys.
  std::span<const list_branch> branches() const noexcept { return branches_; }
  /// The first branch of `key` (follow `next_of_key`), or `no_branch`.
  std::uint32_t first_branch(std::uint32_t key) const noexcept {
    return key < first_branch_.size() ? first_branch_[key] : no_branch;
  }
  /// List-append: the branch a known read refers to (`no_branch` for an empty list).
  static std::uint32_t read_branch(const micro_op& op) noexcept {
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(op.value) >> 32) - 1;
  }
  /// List-append: the length of a known read's list.
  static std::uint32_t read_length(const micro_op& op) noexcept {
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(op.value) & 0xFFFFFFFFu);
  }
  /// List-append: the list a known read returned.
  std::span<const std::int64_t> read_list(const micro_op& op) const noexcept {
    const std::uint32_t b = read_branch(op);
    if (b == no_branch) return {};
    return std::span<const std::int64_t>(branches_[b].elements).first(read_length(op));
  }

  /// Transactions that completed ok, in the order of their completions.
  std::span<const std::uint32_t> completion_order() const noexcept { return completion_order_; }

  /// Lines that were not transactions (other `f`s, non-integer processes such as "nemesis").
  std::uint64_t skipped_events() const noexcept { return skipped_; }
  void note_skipped_event() noexcept { ++skipped_; }

 private:
  static constexpr std::uint32_t no_txn = std::numeric_limits<std::uint32_t>::max();

  [[noreturn]] static void fail(std::uint64_t line, const std::string& reason) {
    throw isolation_input_error(line, reason);
  }

  void check_kind(op_kind k, std::uint64_t line) const {
    if (k == op_kind::append && workload_ == workload::rw_register) {
      fail(line,
           "micro-op \"append\" does not belong in an rw-register history "
           "(use --workload list-append)");
    }
    if (k == op_kind::write && workload_ == workload::list_append) {
      fail(line,
           "micro-op \"w\" does not belong in a list-append history "
           "(use --workload rw-register)");
    }
  }

  static bool is_final(std::span<const op_input> ops, std::size_t i) noexcept {
    for (std::size_t j = i + 1; j < ops.size(); ++j) {
      if (ops[j].kind != op_kind::read && ops[j].key == ops[i].key) return false;
    }
    return true;
  }

  std::uint32_t pending(std::int64_t process) const {
    if (process >= 0 && process < dense_process_limit) {
      const auto p = static_cast<std::size_t>(process);
      return p < pending_dense_.size() ? pending_dense_[p] : no_txn;
    }
    const auto it = pending_sparse_.find(process);
    return it == pending_sparse_.end() ? no_txn : it->second;
  }

  void set_pending(std::int64_t process, std::uint32_t txn) {
    if (process >= 0 && process < dense_process_limit) {
      const auto p = static_cast<std::size_t>(process);
      if (p >= pending_dense_.size()) pending_dense_.resize(p + 1, no_txn);
      pending_dense_[p] = txn;
    } else if (txn == no_txn) {
      pending_sparse_.erase(process);
    } else {
      pending_sparse_[process] = txn;
    }
  }

  // Each key has its own open-addressing table of write ids, a power-of-two block of
  // `write_slab_`: a key's writes stay together (a history uses a few keys at a time, and a
  // list is walked key by key), probes stay short (the values of one key are distinct and
  // usually consecutive, which Fibonacci hashing spreads evenly), and the blocks of retired
  // keys' outgrown tables are reused, so the slab stays small and warm.
  struct key_write_table {
    std::uint32_t offset = 0;
    std::uint32_t count = 0;
    std::uint8_t bits = 0;  // the block holds 2^bits slots
  };

  static std::uint32_t slot_of(std::int64_t value, std::uint8_t bits) noexcept {
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(value) * 0x9E3779B97F4A7C15ULL) >>
                                      (64 - bits));
  }

  void add_write(std::uint32_t key, std::int64_t value, std::uint32_t txn, std::uint32_t op,
                 bool final_write, std::uint64_t line) {
    if (key >= key_writes_.size()) key_writes_.resize(std::max<std::size_t>(keys_.size(), key + 1));
    if (key_writes_[key].count + 1 > (std::uint32_t{1} << key_writes_[key].bits) / 2) {
      grow_key_writes(key);
    }
    key_write_table& t = key_writes_[key];
    const std::uint32_t mask = (std::uint32_t{1} << t.bits) - 1;
    std::uint32_t i = slot_of(value, t.bits);
    for (;; i = (i + 1) & mask) {
      const std::uint32_t id_plus1 = write_slab_[t.offset + i];
      if (id_plus1 == 0) break;
      if (writes_[id_plus1 - 1].value == value) {
        const write_record& w = writes_[id_plus1 - 1];
        fail(line, "value " + std::to_string(value) + " is written to key " + key_name(key) +
                       " twice (first by the transaction invoked at line " +
                       std::to_string(txns_[w.txn].invoke_line) +
                       "); the checker needs every written value to be unique per key");
      }
    }
    writes_.push_back({value, key, txn, op, final_write});
    write_slab_[t.offset + i] = static_cast<std::uint32_t>(writes_.size());
    ++t.count;
  }

  // Moves `key`'s table to a block twice the size (at least 4 slots), freeing the old block.
  void grow_key_writes(std::uint32_t key) {
    const key_write_table old = key_writes_[key];
    const std::uint8_t bits = old.count == 0 ? 2 : static_cast<std::uint8_t>(old.bits + 1);
    if (bits >= 32) fail(0, "more than 2^31 writes to one key");
    key_write_table& t = key_writes_[key];
    t.bits = bits;
    t.offset = allocate_block(bits);
    const std::uint32_t mask = (std::uint32_t{1} << bits) - 1;
    if (old.count == 0) return;
    for (std::uint32_t j = 0; j < (std::uint32_t{1} << old.bits); ++j) {
      const std::uint32_t id_plus1 = write_slab_[old.offset + j];
      if (id_plus1 == 0) continue;
      std::uint32_t i = slot_of(writes_[id_plus1 - 1].value, bits);
      while (write_slab_[t.offset + i] != 0) i = (i + 1) & mask;
      write_slab_[t.offset + i] = id_plus1;
    }
    free_block(old.offset, old.bits);
  }

  // Blocks of 2^bits slots; a free block links to the next free one of its size in its first
  // slot (offset + 1, 0 ends the list).
  std::uint32_t allocate_block(std::uint8_t bits) {
    if (free_blocks_.size() <= bits) free_blocks_.resize(bits + 1, 0);
    const std::size_t size = std::size_t{1} << bits;
    if (const std::uint32_t head = free_blocks_[bits]; head != 0) {
      free_blocks_[bits] = write_slab_[head - 1];
      std::fill_n(write_slab_.begin() + (head - 1), size, 0u);
      return head - 1;
    }
    if (write_slab_.size() + size > std::numeric_limits<std::uint32_t>::max()) {
      fail(0, "history too large (more than 2^32 write slots)");
    }
    const auto offset = static_cast<std::uint32_t>(write_slab_.size());
    write_slab_.resize(write_slab_.size() + size, 0u);
    return offset;
  }

  void free_block(std::uint32_t offset, std::uint8_t bits) {
    write_slab_[offset] = free_blocks_[bits];
    free_blocks_[bits] = offset + 1;
  }

  static std::int64_t pack_read(std::uint32_t branch, std::size_t length) noexcept {
    return static_cast<std::int64_t>((static_cast<std::uint64_t>(branch + 1) << 32) |
                                     static_cast<std::uint64_t>(length));
  }

  // Files the read into the key's branches: a prefix of a branch refers to it; an extension of a
  // branch grows it (earlier references stay valid, being prefixes); anything else starts a new
  // branch. Branches of one key therefore stay pairwise incompatible.
  std::int64_t add_read(std::uint32_t key, std::span<const std::int64_t> list, std::uint32_t txn) {
    if (list.empty()) return pack_read(no_branch, 0);
    if (list.size() > std::numeric_limits<std::uint32_t>::max()) {
      fail(txns_[txn].complete_line, "a read list longer than 2^32 elements");
    }
    if (first_branch_.size() <= key) first_branch_.resize(keys_.size(), no_branch);
    std::uint32_t last = no_branch;  // an index, not a pointer: push_back below reallocates
    for (std::uint32_t b = first_branch_[key]; b != no_branch; b = branches_[b].next_of_key) {
      last = b;
      list_branch& br = branches_[b];
      const std::size_t n = std::min(br.elements.size(), list.size());
      // Nearly every read agrees with its branch: one memcmp says so.
      const std::size_t common =
          std::memcmp(list.data(), br.elements.data(), n * sizeof(std::int64_t)) == 0
              ? n
              : static_cast<std::size_t>(
                    std::mismatch(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(n),
                                  br.elements.begin())
                        .first -
                    list.begin());
      if (common == list.size()) {
        if (common == br.elements.size()) br.witness = txn;
        return pack_read(b, list.size());
      }
      if (common == br.elements.size()) {
        br.elements.insert(br.elements.end(), list.begin() + static_cast<std::ptrdiff_t>(common),
                           list.end());
        br.witness = txn;
        return pack_read(b, list.size());
      }
    }
    const auto b = static_cast<std::uint32_t>(branches_.size());
    list_branch nb;
    nb.key = key;
    nb.witness = txn;
    nb.next_of_key = no_branch;
    nb.elements.assign(list.begin(), list.end());
    branches_.push_back(std::move(nb));
    (last == no_branch ? first_branch_[key] : branches_[last].next_of_key) = b;
    return pack_read(b, list.size());
  }

  static constexpr std::int64_t dense_process_limit = std::int64_t{1} << 20;

  workload workload_;
  detail::key_table keys_;
  std::vector<txn_record> txns_;
  std::vector<micro_op> ops_;
  std::vector<write_record> writes_;
  std::vector<key_write_table> key_writes_;
  std::vector<std::uint32_t> write_slab_;
  std::vector<std::uint32_t> free_blocks_;  // per size (bits): first free block + 1, or 0
  std::vector<list_branch> branches_;
  std::vector<std::uint32_t> first_branch_;
  std::vector<std::uint32_t> completion_order_;
  std::vector<std::uint32_t> pending_dense_;
  std::unordered_map<std::int64_t, std::uint32_t> pending_sparse_;
  std::uint64_t skipped_ = 0;
};

namespace detail {

/// A growable array of trivially copyable values whose append stays inline: in the parser's
/// large functions a std::vector's push_back is an out-of-line call per list element or
/// micro-op.
template <class T>
class flat_buffer {
  static_assert(std::is_trivially_copyable_v<T>, "flat_buffer copies its values as bytes");

 public:
  flat_buffer() { grow(); }

  DSTM_JSONL_INLINE void push_back(const T& v) {
    if (size_ == capacity_) grow();
    data_[size_++] = v;
  }
  void append(const T* first, std::size_t n) {
    while (capacity_ - size_ < n) grow();
    if (n > 0) std::memcpy(data_.get() + size_, first, n * sizeof(T));
    size_ += n;
  }
  /// Makes the size `n`; new values are left as `T()` or as they were.
  void resize(std::size_t n) {
    while (capacity_ < n) grow();
    size_ = n;
  }
  void clear() noexcept { size_ = 0; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T* data() noexcept { return data_.get(); }
  const T* data() const noexcept { return data_.get(); }
  T* begin() noexcept { return data_.get(); }
  T* end() noexcept { return data_.get() + size_; }
  const T* begin() const noexcept { return data_.get(); }
  const T* end() const noexcept { return data_.get() + size_; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  operator std::span<const T>() const noexcept { return {data_.get(), size_}; }

 private:
  [[gnu::noinline]] void grow() {
    capacity_ = capacity_ == 0 ? 256 : capacity_ * 2;
    std::unique_ptr<T[]> bigger(new T[capacity_]);
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_ * sizeof(T));
    data_ = std::move(bigger);
  }

  std::unique_ptr<T[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

using integer_buffer = flat_buffer<std::int64_t>;

/// Parses one history line into `h`. Split out of `read_transaction_history` so tests and other
/// readers can feed lines one by one.
///
/// `Sink` receives the events: a `transaction_history`, or the parallel reader's
/// `txn_block_recorder`, which keeps them for the history to take later. It has the history's
/// `kind`, `intern_key` (integer and string), `invoke`, `complete` and `note_skipped_event`.
template <class Sink>
class basic_txn_line_parser {
 public:
  explicit basic_txn_line_parser(Sink& h) : h_(h) {}

  /// Parses `line`, which must be followed by a '\0' (as `line_reader`'s lines are).
  void parse(std::string_view line, std::uint64_t line_number) {
    line_ = line_number;
    json_cursor c(line);
    if (c.at_end()) return;  // blank lines are allowed
    try {
      parse_event(c, line);
    } catch (const json_syntax_error& e) {
      throw isolation_input_error(line_number,
                                  "column " + std::to_string(e.column()) + ": " + e.what());
    }
  }

 private:
  enum class type_field : std::uint8_t { missing, invoke, ok, fail, info };
  enum class field : std::uint8_t { process, type, f, value, other };

  // Elle, Jepsen and dstm write the fields in this order: `expected`, the field after the
  // previous one, is tried first, so a field costs one compare in the usual line.
  static field field_name(json_cursor& c, std::string& scratch, field expected) {
    switch (expected) {
      case field::process:
        if (c.try_literal("\"process\":")) return field::process;
        break;
      case field::type:
        if (c.try_literal("\"type\":")) return field::type;
        break;
      case field::f:
        if (c.try_literal("\"f\":")) return field::f;
        break;
      case field::value:
        if (c.try_literal("\"value\":")) return field::value;
        break;
      default:
        break;
    }
    const int i = c.key_of(scratch, "\"process\"", "\"type\"", "\"f\"", "\"value\"");
    return i < 0 ? field::other : static_cast<field>(i);
  }

  type_field type_name(json_cursor& c) {
    const std::size_t type_column = c.column();
    std::string_view t;
    switch (c.string_of(scratch_, t, "\"invoke\"", "\"ok\"", "\"fail\"", "\"info\"")) {
      case 0:
        return type_field::invoke;
      case 1:
        return type_field::ok;
      case 2:
        return type_field::fail;
      case 3:
        return type_field::info;
      default:
        c.fail_at_column(type_column, "\"type\" must be invoke, ok, fail or info, not \"" +
                                          std::string(t) + "\"");
    }
  }

  void parse_event(json_cursor& c, std::string_view line) {
    c.expect('{', "a JSON object (one event per line)");
    bool has_process = false;
    bool process_is_int = false;
    std::int64_t process = 0;
    type_field type = type_field::missing;
    int f_state = 0;  // 0 missing, 1 "txn", 2 something else
    bool has_value = false;
    bool value_parsed = false;
    bool value_null = false;
    std::size_t value_column = 0;
    field expected = field::process;
    if (!c.try_consume('}')) {
      do {
        const field name = field_name(c, key_scratch_, expected);
        expected =
            name == field::other ? field::other : static_cast<field>(static_cast<int>(name) + 1);
        switch (name) {
          case field::process:
            has_process = true;
            process_is_int = c.at_number();
            if (process_is_int) {
              process = c.integer();
            } else {
              c.skip_value();
            }
            break;
          case field::type:
            type = type_name(c);
            break;
          case field::f:
            if (c.try_literal("\"txn\"")) {
              f_state = 1;
            } else if (c.peek() == '"') {
              f_state = c.string(scratch_) == "txn" ? 1 : 2;
            } else {
              c.skip_value();
              f_state = 2;
            }
            break;
          case field::value:
            has_value = true;
            if (f_state == 1) {
              value_null = !parse_ops(c);
              value_parsed = true;
            } else {
              // "f" not seen yet: remember where the value starts and come back if it is a txn.
              value_column = c.column();
              c.skip_value();
            }
            break;
          case field::other:
            c.skip_value();
            break;
        }
      } while (c.try_consume(','));
      c.expect('}', "',' or '}' in the event object");
    }
    if (!c.at_end()) c.fail("unexpected characters after the event object");
    if (!has_process) throw isolation_input_error(line_, "missing \"process\"");
    if (type == type_field::missing) throw isolation_input_error(line_, "missing \"type\"");
    if (f_state == 0) throw isolation_input_error(line_, "missing \"f\"");
    if (f_state == 2 || !process_is_int) {
      h_.note_skipped_event();
      return;
    }
    if (has_value && !value_parsed) {
      json_cursor again(line.substr(value_column - 1));
      value_null = !parse_ops(again);
    }
    if (!has_value || value_null) {
      if (type == type_field::invoke || type == type_field::ok) {
        throw isolation_input_error(line_,
                                    "a txn's invoke and ok events need a \"value\": the "
                                    "list of micro-ops");
      }
      inputs_.clear();
    }
    switch (type) {
      case type_field::invoke:
        h_.invoke(process, inputs_, line_);
        break;
      case type_field::ok:
        h_.complete(process, txn_status::ok, inputs_, line_);
        break;
      case type_field::fail:
        h_.complete(process, txn_status::fail, inputs_, line_);
        break;
      default:
        h_.complete(process, txn_status::info, inputs_, line_);
        break;
    }
  }

  // Reads the micro-op list into inputs_; false if the value is null.
  bool parse_ops(json_cursor& c) {
    inputs_.clear();
    lists_.clear();
    if (c.try_null()) return false;
    c.expect('[', "the txn's value to be a list of micro-ops");
    const std::int64_t* lists_before = lists_.data();
    if (!c.try_consume(']')) {
      do {
        parse_op(c);
      } while (c.try_consume(','));
      c.expect(']', "',' or ']' in the micro-op list");
    }
    // If lists_ grew while the line was parsed, the spans point into its old storage: a
    // list-append read keeps its list's offset in `value` (which it does not use otherwise).
    if (lists_.data() == lists_before) return true;
    for (op_input& op : inputs_) {
      if (op.kind == op_kind::read && !op.list.empty()) {
        op.list = std::span<const std::int64_t>(lists_.data() + op.value, op.list.size());
      }
    }
    return true;
  }

  void parse_op(json_cursor& c) {
    c.expect('[', "a micro-op such as [\"r\", \"x\", null]");
    op_input op;
    const std::size_t f_column = c.column();
    const workload w = h_.kind();
    std::string_view f;
    switch (c.string_of(scratch_, f, "\"r\"", "\"append\"", "\"w\"")) {
      case 0:
        op.kind = op_kind::read;
        break;
      case 1:
        op.kind = op_kind::append;
        break;
      case 2:
        op.kind = op_kind::write;
        break;
      default:
        c.fail_at_column(f_column, "unknown micro-op \"" + std::string(f) +
                                       "\" (expected \"r\", \"append\" or \"w\")");
    }
    if (op.kind == op_kind::append && w == workload::rw_register) {
      c.fail_at_column(
          f_column,
          "micro-op \"append\" does not belong in an rw-register history (use --workload "
          "list-append)");
    }
    if (op.kind == op_kind::write && w == workload::list_append) {
      c.fail_at_column(f_column,
                       "micro-op \"w\" does not belong in a list-append history (use --workload "
                       "rw-register)");
    }
    c.expect(',', "',' after the micro-op's function");
    if (c.at_number()) {
      op.key = h_.intern_key(c.integer());
    } else if (c.peek() == '"') {
      op.key = h_.intern_key(c.string(scratch_));
    } else {
      c.fail("a micro-op's key must be a string or an integer");
    }
    c.expect(',', "',' after the micro-op's key");
    if (op.kind != op_kind::read) {
      if (!c.at_number()) c.fail("an appended or written value must be an integer");
      op.value = c.integer();
      op.nil = false;
    } else if (c.try_null()) {
      op.nil = true;
    } else if (w == workload::rw_register) {
      if (!c.at_number()) c.fail("an rw-register read returns an integer or null");
      op.value = c.integer();
      op.nil = false;
    } else {
      c.expect('[', "a list-append read to return a list of integers or null");
      op.nil = false;
      const std::size_t first = lists_.size();
      c.integer_elements(lists_, "a read's list");
      op.value = static_cast<std::int64_t>(first);
      op.list = std::span<const std::int64_t>(lists_.data() + first, lists_.size() - first);
    }
    c.expect(']', "']' closing the micro-op (a micro-op is [f, key, value])");
    inputs_.push_back(op);
  }

  Sink& h_;
  std::uint64_t line_ = 0;
  std::string scratch_;
  std::string key_scratch_;
  flat_buffer<op_input> inputs_;
  integer_buffer lists_;
};

using txn_line_parser = basic_txn_line_parser<transaction_history>;

inline transaction_history read_lines(line_reader& lines, workload w, std::size_t bytes) {
  transaction_history h(w);
  // Generous for Elle's and dstm's shapes (two lines of at least 80 bytes per transaction, at
  // least 40 bytes per micro-op over both), so that the vectors are not copied while growing.
  h.reserve(bytes / 160, bytes / 40);
  txn_line_parser parser(h);
  std::string_view line;
  while (lines.next(line)) parser.parse(line, lines.line_number());
  return h;
}

// ---- The parallel stream reader ----
//
// Why: scanning JSON is most of the time of `dstm-check isolation` (on the 1M-transaction
// benchmark history, 318 MB: ~0.9 s of ~1.5 s on one core), and it does not depend on the
// history built so far. So a stream is cut into blocks of whole lines; two threads take blocks
// in turn and scan each into a compact form (events, micro-ops, lists, and keys interned in a
// table of the block's own), and the calling thread adds the blocks to the history strictly in
// file order, mapping each block's keys to the history's. Whatever depends on order (key ids,
// transaction ids, pending transactions, the write index, every error) is decided there, so the
// result is the one-thread result: the same history, the same first error (a block scanned
// ahead keeps its malformed line and its reason, raised only when the history reaches it). A
// block that the calling thread takes when it is the next one in order is parsed straight into
// the history. An input of one block never starts the thread.
//
// Measured (`dstm-check isolation` on that history, --level serializable, this 2-core machine
// idle, runs alternating): one thread 1.23-1.28 s wall, two 0.86-0.95 s (with the check's
// parallel read pass); the reading thread's CPU 0.50-0.52 s, the scanning thread's 0.48-0.52 s.
// With another job on one of the cores it is slower than one thread (1.45 s against 1.30 s):
// scanning into blocks and reading them back costs ~0.15 s of CPU in all. docs/checker-
// performance.md has the figures.

/// One event of a scanned block; `type`: 0 invoke, 1 + `txn_status` for a completion, 4 an
/// event that is not a transaction.
struct recorded_event {
  std::uint64_t line = 0;  ///< within the block, 1-based
  std::int64_t process = 0;
  std::uint32_t first_op = 0;
  std::uint32_t op_count = 0;
  std::uint8_t type = 0;
};

/// One micro-op of a scanned block: `key` is the block's key id; a list-append read's list is
/// `list_size` integers at offset `value` of the block's lists.
struct recorded_op {
  std::int64_t value = 0;
  std::uint32_t key = 0;
  std::uint32_t list_size = 0;
  op_kind kind = op_kind::read;
  bool nil = true;
};

/// A block of whole lines of the input, and what scanning it found.
struct txn_block {
  std::unique_ptr<char[]> text;
  std::size_t capacity = 0;  // bytes of text; one more is allocated for the last line's '\0'
  std::size_t size = 0;
  std::uint64_t index = 0;  // the block's place in the input
  std::uint64_t lines = 0;  // set once every line was scanned
  flat_buffer<recorded_event> events;
  flat_buffer<recorded_op> ops;
  integer_buffer lists;
  key_table keys;
  bool malformed = false;  // the line `error_line` is malformed: `error_reason`
  std::uint64_t error_line = 0;
  std::string error_reason;
  std::exception_ptr failure;  // anything else that stopped the scan (out of memory)

  void reserve_text(std::size_t n) {
    if (n <= capacity) return;
    std::unique_ptr<char[]> bigger(new char[n + 1]);
    if (size > 0) std::memcpy(bigger.get(), text.get(), size);
    text = std::move(bigger);
    capacity = n;
  }

  void clear_scan() noexcept {
    lines = 0;
    events.clear();
    ops.clear();
    lists.clear();
    keys.clear();
    malformed = false;
    error_line = 0;
    error_reason.clear();
    failure = nullptr;
  }

  /// Calls `f(line, n)` for each line (n from 1), as `line_reader` splits them: without the
  /// '\n' and a '\r' before it, followed by a '\0'; a last line without '\n' counts.
  template <class F>
  void for_each_line(F&& f) {
    char* p = text.get();
    char* const end = p + size;
    std::uint64_t n = 0;
    while (p != end) {
      char* nl = static_cast<char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      char* last = nl != nullptr ? nl : end;
      char* stop = last != p && last[-1] == '\r' ? last - 1 : last;
      *stop = '\0';
      f(std::string_view(p, static_cast<std::size_t>(stop - p)), ++n);
      p = nl != nullptr ? nl + 1 : end;
    }
    lines = n;
  }
};

/// The sink of `basic_txn_line_parser` that records a block's events for the history to take
/// later (`txn_block_builder`), interning keys in the block's own table.
class txn_block_recorder {
 public:
  explicit txn_block_recorder(workload w) : workload_(w) {}
  void target(txn_block& b) noexcept { b_ = &b; }

  workload kind() const noexcept { return workload_; }
  std::uint32_t intern_key(std::int64_t k) { return b_->keys.intern_int(k); }
  std::uint32_t intern_key(std::string_view k) { return b_->keys.intern_string(k); }

  void invoke(std::int64_t process, std::span<const op_input> ops, std::uint64_t line) {
    record(0, process, ops, line);
  }
  void complete(std::int64_t process, txn_status status, std::span<const op_input> ops,
                std::uint64_t line) {
    // A failed or info completion's micro-ops are ignored by the history.
    record(static_cast<std::uint8_t>(1 + static_cast<int>(status)), process,
           status == txn_status::ok ? ops : std::span<const op_input>{}, line);
  }
  void note_skipped_event() { b_->events.push_back({.type = 4}); }

 private:
  void record(std::uint8_t type, std::int64_t process, std::span<const op_input> ops,
              std::uint64_t line) {
    b_->events.push_back({line, process, static_cast<std::uint32_t>(b_->ops.size()),
                          static_cast<std::uint32_t>(ops.size()), type});
    for (const op_input& in : ops) {
      recorded_op op;
      op.value = in.value;
      op.key = in.key;
      op.kind = in.kind;
      op.nil = in.nil;
      if (in.kind == op_kind::read && !in.list.empty()) {
        // Each list is kept whole; the history keeps only a (branch, length) per read.
        op.value = static_cast<std::int64_t>(b_->lists.size());
        op.list_size = static_cast<std::uint32_t>(in.list.size());
        b_->lists.append(in.list.data(), in.list.size());
      }
      b_->ops.push_back(op);
    }
  }

  workload workload_;
  txn_block* b_ = nullptr;
};

/// Adds scanned blocks to a history, in order.
class txn_block_builder {
 public:
  explicit txn_block_builder(transaction_history& h) : h_(h) {}

  /// Adds `b`'s events, its first line being line `first_line` of the input; then raises the
  /// error that stopped its scan, if one did.
  void add(const txn_block& b, std::uint64_t first_line) {
    const std::uint64_t base = first_line - 1;
    // In the block's order of first use, which is the order the history would have seen.
    keys_.resize(b.keys.size());
    for (std::uint32_t k = 0; k < keys_.size(); ++k) keys_[k] = h_.intern_key(b.keys, k);
    ops_.resize(b.ops.size());
    for (std::size_t i = 0; i < b.ops.size(); ++i) {
      const recorded_op& r = b.ops[i];
      op_input& op = ops_[i];
      op.kind = r.kind;
      op.key = keys_[r.key];
      op.value = r.value;
      op.nil = r.nil;
      op.list = r.list_size == 0
                    ? std::span<const std::int64_t>()
                    : std::span<const std::int64_t>(b.lists.data() + r.value, r.list_size);
    }
    const std::span<const op_input> ops = ops_;
    for (const recorded_event& e : b.events) {
      if (e.type == 4) {
        h_.note_skipped_event();
        continue;
      }
      const std::span<const op_input> event_ops = ops.subspan(e.first_op, e.op_count);
      if (e.type == 0) {
        h_.invoke(e.process, event_ops, base + e.line);
      } else {
        h_.complete(e.process, static_cast<txn_status>(e.type - 1), event_ops, base + e.line);
      }
    }
    if (b.malformed) throw isolation_input_error(base + b.error_line, b.error_reason);
    if (b.failure) std::rethrow_exception(b.failure);
  }

 private:
  transaction_history& h_;
  std::vector<std::uint32_t> keys_;
  flat_buffer<op_input> ops_;
};

/// Reads a stream into a history with a second thread scanning blocks ahead (see above).
class parallel_txn_reader {
 public:
  /// `block`: bytes read at a time (a block is that much plus the end of its last line);
  /// `ahead`: how many scanned blocks may wait for the history (bounds the memory).
  parallel_txn_reader(std::istream& in, workload w, std::size_t block = std::size_t{1} << 20,
                      std::size_t ahead = 4)
      : in_(in), workload_(w), block_(block < 64 ? 64 : block), ahead_(ahead < 1 ? 1 : ahead) {}

  parallel_txn_reader(const parallel_txn_reader&) = delete;
  parallel_txn_reader& operator=(const parallel_txn_reader&) = delete;

  ~parallel_txn_reader() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }

  /// Reads the whole stream into `h`; returns the number of lines read.
  std::uint64_t read_into(transaction_history& h) {
    txn_line_parser direct(h);
    txn_block_recorder recorder(workload_);
    basic_txn_line_parser<txn_block_recorder> scanner(recorder);
    txn_block_builder builder(h);
    std::uint64_t next_line = 1;  // the first line of block `next_`
    auto parse_directly = [&](txn_block& b) {
      b.for_each_line(
          [&](std::string_view line, std::uint64_t n) { direct.parse(line, next_line + n - 1); });
      next_line += b.lines;
    };

    std::unique_ptr<txn_block> first = spare();
    if (!fill(*first)) return 0;
    if (input_done_) {  // one block: no thread
      parse_directly(*first);
      return next_line - 1;
    }
    worker_ = std::thread([this] { scan_ahead(); });
    parse_directly(*first);
    done_with(std::move(first));

    bool input_left = true;
    for (;;) {
      std::unique_ptr<txn_block> b;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
          if (auto it = scanned_.find(next_); it != scanned_.end()) {
            b = std::move(it->second);
            scanned_.erase(it);
            break;
          }
          if (input_left) break;
          if (next_ == block_count_) return next_line - 1;
          // The block is being scanned by the other thread, or that thread failed.
          if (worker_failure_) std::rethrow_exception(worker_failure_);
          changed_.wait(lock);
        }
      }
      if (b) {  // the next block, scanned: add it
        builder.add(*b, next_line);
        next_line += b->lines;
        done_with(std::move(b));
        continue;
      }
      // The next block is not scanned yet: take another block of the input meanwhile.
      b = spare();
      if (!fill(*b)) {
        input_left = false;
        continue;
      }
      if (b->index == next_) {
        parse_directly(*b);
        done_with(std::move(b));
      } else {
        scan(*b, scanner, recorder);
        publish(std::move(b));
      }
    }
  }

 private:
  // The second thread: scans blocks while fewer than `ahead_` wait.
  void scan_ahead() {
    try {
      txn_block_recorder recorder(workload_);
      basic_txn_line_parser<txn_block_recorder> scanner(recorder);
      for (;;) {
        std::unique_ptr<txn_block> b;
        {
          std::unique_lock<std::mutex> lock(mutex_);
          changed_.wait(lock, [&] { return stop_ || scanned_.size() < ahead_; });
          if (stop_) break;
        }
        b = spare();
        if (!fill(*b)) break;
        scan(*b, scanner, recorder);
        publish(std::move(b));
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      worker_failure_ = std::current_exception();
    }
    changed_.notify_all();
  }

  // Scans `b` into its recorded form. A malformed line ends the input: nothing after it is read.
  void scan(txn_block& b, basic_txn_line_parser<txn_block_recorder>& scanner,
            txn_block_recorder& recorder) {
    b.clear_scan();
    recorder.target(b);
    try {
      b.for_each_line([&](std::string_view line, std::uint64_t n) { scanner.parse(line, n); });
      return;
    } catch (const isolation_input_error& e) {
      b.malformed = true;
      b.error_line = e.line();
      b.error_reason = e.reason();
    } catch (...) {
      b.failure = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(input_mutex_);
    input_done_ = true;
  }

  // Fills `b` with the next whole lines of the input; false when none are left.
  bool fill(txn_block& b) {
    std::lock_guard<std::mutex> lock(input_mutex_);
    if (input_done_) {
      block_count_ = next_index_;
      return false;
    }
    b.size = 0;
    b.reserve_text(carry_.size() + block_ + block_ / 8);  // room for the usual carry
    if (!carry_.empty()) std::memcpy(b.text.get(), carry_.data(), carry_.size());
    b.size = carry_.size();
    carry_.clear();
    for (;;) {
      // A block grows only for a line longer than a block; by doubling, as line_reader does.
      if (b.size + block_ > b.capacity) b.reserve_text(std::max(b.size + block_, b.capacity * 2));
      in_.read(b.text.get() + b.size, static_cast<std::streamsize>(block_));
      const auto got = static_cast<std::size_t>(in_.gcount());
      const char* read = b.text.get() + b.size;
      b.size += got;
      if (got == 0 || !in_) {
        input_done_ = true;
        break;
      }
      // The end of the last whole line read; the rest starts the next block.
      const char* p = read + got;
      while (p != read && p[-1] != '\n') --p;
      if (p != read) {
        carry_.assign(p, static_cast<std::size_t>(b.text.get() + b.size - p));
        b.size = static_cast<std::size_t>(p - b.text.get());
        break;
      }
      // No '\n' in a whole block: one long line; read on.
    }
    b.index = next_index_++;
    return true;
  }

  std::unique_ptr<txn_block> spare() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!spares_.empty()) {
        std::unique_ptr<txn_block> b = std::move(spares_.back());
        spares_.pop_back();
        return b;
      }
    }
    return std::make_unique<txn_block>();
  }

  // Block `next_` was added to the history: recycle it and move on.
  void done_with(std::unique_ptr<txn_block> b) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      spares_.push_back(std::move(b));
      ++next_;
    }
    changed_.notify_all();
  }

  void publish(std::unique_ptr<txn_block> b) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const std::uint64_t index = b->index;
      scanned_.emplace(index, std::move(b));
    }
    changed_.notify_all();
  }

  std::istream& in_;
  workload workload_;
  std::size_t block_;
  std::size_t ahead_;

  // The input, shared by both threads under input_mutex_.
  std::mutex input_mutex_;
  std::string carry_;  // the start of a line whose end is not read yet
  std::uint64_t next_index_ = 0;
  bool input_done_ = false;
  // Once input_done_. Atomic: written under input_mutex_ (by whichever thread found the end),
  // read under mutex_ by the history's thread.
  std::atomic<std::uint64_t> block_count_{0};

  // The blocks, under mutex_.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::uint64_t, std::unique_ptr<txn_block>> scanned_;
  std::vector<std::unique_ptr<txn_block>> spares_;
  std::uint64_t next_ = 0;  // the next block for the history; written by the reading thread only
  bool stop_ = false;
  std::exception_ptr worker_failure_;
  std::thread worker_;
};

/// Reads `in` (`bytes` left in it, if known, to size the history) with `parallel_txn_reader`.
inline transaction_history read_stream(std::istream& in, workload w, std::size_t bytes,
                                       std::size_t block = std::size_t{1} << 20) {
  transaction_history h(w);
  h.reserve(bytes / 160, bytes / 40);  // as read_lines does
  parallel_txn_reader reader(in, w, block);
  const std::uint64_t lines = reader.read_into(h);
  if (in.bad()) throw isolation_input_error(lines, "read error");
  return h;
}

}  // namespace detail

/// Reads a JSON-lines transaction history. Events whose `f` is not "txn" or whose process is not
/// an integer (a nemesis) are skipped and counted. Throws `isolation_input_error` naming the line
/// and the reason for malformed input; a read error of the stream itself is reported the same way.
inline transaction_history read_transaction_history(std::istream& in, workload w) {
  // The size of what is left to read, when the stream can tell (a file can, a pipe cannot).
  std::size_t bytes = 0;
  if (std::streambuf* buf = in.rdbuf(); buf != nullptr) {
    const auto here = buf->pubseekoff(0, std::ios::cur, std::ios::in);
    const auto end = buf->pubseekoff(0, std::ios::end, std::ios::in);
    if (here != std::streampos(-1) && end != std::streampos(-1)) {
      bytes = static_cast<std::size_t>(end - here);
      buf->pubseekpos(here, std::ios::in);
    }
  }
  return detail::read_stream(in, w, bytes);
}

/// Reads a history from a string (tests, small tools).
inline transaction_history parse_transaction_history(std::string_view text, workload w) {
  detail::line_reader lines(text);
  return detail::read_lines(lines, w, text.size());
}

}  // namespace dstm::check
