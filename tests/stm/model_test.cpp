// A RapidCheck stateful test: refs and atoms used by two clients of one embedded store against a
// plain model (an array of numbers). Commands run one at a time, so every read must see every
// earlier write, whichever client made it — also across session expiries and lost replies.

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <array>
#include <cstddef>
#include <dstm/dstm.hpp>
#include <memory>
#include <ostream>
#include <string>

#include "support.hpp"

namespace {

constexpr std::size_t n_clients = 2;
constexpr std::size_t n_refs = 3;
constexpr std::size_t n_atoms = 2;

struct model {
  std::array<long, n_refs> refs{};
  std::array<long, n_atoms> atoms{};
};

struct system_under_test {
  std::shared_ptr<dstm::embedded::store> store = std::make_shared<dstm::embedded::store>();
  std::shared_ptr<dstm_test::multi_hooks> hooks = std::make_shared<dstm_test::multi_hooks>();
  std::array<std::shared_ptr<dstm::client>, n_clients> clients;
  std::array<std::array<std::unique_ptr<dstm::ref<long>>, n_refs>, n_clients> refs;
  std::array<std::array<std::unique_ptr<dstm::atom<long>>, n_atoms>, n_clients> atoms;

  system_under_test() {
    for (std::size_t c = 0; c < n_clients; ++c) {
      // Client 0 runs on the fault-injecting coordinator, client 1 on the plain one.
      clients[c] = c == 0 ? dstm_test::connect_hooked(store, hooks, dstm_test::fast_options())
                          : dstm::embedded::connect(store, dstm_test::fast_options());
      for (std::size_t r = 0; r < n_refs; ++r) {
        refs[c][r] = std::make_unique<dstm::ref<long>>(clients[c], "/m/r" + std::to_string(r), 0L);
      }
      for (std::size_t a = 0; a < n_atoms; ++a) {
        atoms[c][a] =
            std::make_unique<dstm::atom<long>>(clients[c], "/m/a" + std::to_string(a), 0L);
      }
    }
  }
};

using command = rc::state::Command<model, system_under_test>;

std::size_t any_client() { return *rc::gen::inRange<std::size_t>(0, n_clients); }
std::size_t any_ref() { return *rc::gen::inRange<std::size_t>(0, n_refs); }
std::size_t any_atom() { return *rc::gen::inRange<std::size_t>(0, n_atoms); }
long any_delta() { return *rc::gen::inRange<long>(-50, 51); }

struct alter : command {
  std::size_t c = any_client(), r = any_ref();
  long delta = any_delta();
  void apply(model& m) const override { m.refs[r] += delta; }
  void run(const model& m, system_under_test& s) const override {
    const long got = dstm::dosync(s.clients[c], [&](dstm::txn& tx) {
      return tx.alter(*s.refs[c][r], [&](long v) { return v + delta; });
    });
    RC_ASSERT(got == m.refs[r] + delta);
  }
  void show(std::ostream& os) const override {
    os << "client " << c << ": alter r" << r << " += " << delta;
  }
};

struct ref_set : command {
  std::size_t c = any_client(), r = any_ref();
  long value = any_delta();
  void apply(model& m) const override { m.refs[r] = value; }
  void run(const model&, system_under_test& s) const override {
    dstm::dosync(s.clients[c], [&](dstm::txn& tx) { tx.ref_set(*s.refs[c][r], value); });
  }
  void show(std::ostream& os) const override {
    os << "client " << c << ": ref_set r" << r << " = " << value;
  }
};

struct commute : command {
  std::size_t c = any_client(), r = any_ref();
  long delta = any_delta();
  void apply(model& m) const override { m.refs[r] += delta; }
  void run(const model&, system_under_test& s) const override {
    dstm::dosync(s.clients[c], [&](dstm::txn& tx) {
      tx.commute(
          *s.refs[c][r], [](long v, long d) { return v + d; }, delta);
    });
  }
  void show(std::ostream& os) const override {
    os << "client " << c << ": commute r" << r << " += " << delta;
  }
};

struct transfer : command {
  std::size_t c = any_client(), from = any_ref(), to = any_ref();
  long amount = any_delta();
  void apply(model& m) const override {
    m.refs[from] -= amount;
    m.refs[to] += amount;
  }
  void run(const model&, system_under_test& s) const override {
    dstm::dosync(s.clients[c], [&](dstm::txn& tx) {
      tx.alter(*s.refs[c][from], [&](long v) { return v - amount; });
      tx.alter(*s.refs[c][to], [&](long v) { return v + amount; });
    });
  }
  void show(std::ostream& os) const override {
    os << "client " << c << ": transfer " << amount << " r" << from << " -> r" << to;
  }
};

struct deref_all : command {
  std::size_t c = any_client();
  void run(const model& m, system_under_test& s) const override {
    const auto got = dstm::dosync(s.clients[c], [&](dstm::txn& tx) {
      std::array<long, n_refs> v{};
      for (std::size_t r = 0; r < n_refs; ++r) v[r] = tx.deref(*s.refs[c][r]);
      return v;
    });
    RC_ASSERT(got == m.refs);
    for (std::size_t r = 0; r < n_refs; ++r) RC_ASSERT(s.refs[c][r]->deref() == m.refs[r]);
  }
  void show(std::ostream& os) const override { os << "client " << c << ": deref all refs"; }
};

struct atom_update : command {
  std::size_t c = any_client(), a = any_atom();
  long delta = any_delta();
  void apply(model& m) const override { m.atoms[a] += delta; }
  void run(const model& m, system_under_test& s) const override {
    RC_ASSERT(s.atoms[c][a]->update([](long v, long d) { return v + d; }, delta) ==
              m.atoms[a] + delta);
  }
  void show(std::ostream& os) const override {
    os << "client " << c << ": atom a" << a << " update += " << delta;
  }
};

struct atom_reset : command {
  std::size_t c = any_client(), a = any_atom();
  long value = any_delta();
  void apply(model& m) const override { m.atoms[a] = value; }
  void run(const model&, system_under_test& s) const override {
    RC_ASSERT(s.atoms[c][a]->reset(value) == value);
  }
  void show(std::ostream& os) const override {
    os << "client " << c << ": atom a" << a << " reset " << value;
  }
};

struct atom_cas : command {
  std::size_t c = any_client(), a = any_atom();
  bool matching;
  long expected, desired = any_delta();
  explicit atom_cas(const model& m)
      : matching(*rc::gen::arbitrary<bool>()),
        expected(matching ? m.atoms[a] : m.atoms[a] + 1 + *rc::gen::inRange<long>(0, 5)) {}
  void apply(model& m) const override {
    if (m.atoms[a] == expected) m.atoms[a] = desired;
  }
  void run(const model& m, system_under_test& s) const override {
    RC_ASSERT(s.atoms[c][a]->compare_and_set(expected, desired) == (m.atoms[a] == expected));
  }
  void show(std::ostream& os) const override {
    os << "client " << c << ": atom a" << a << " cas " << expected << " -> " << desired;
  }
};

struct atom_deref : command {
  std::size_t c = any_client(), a = any_atom();
  void run(const model& m, system_under_test& s) const override {
    RC_ASSERT(s.atoms[c][a]->deref() == m.atoms[a]);
  }
  void show(std::ostream& os) const override {
    os << "client " << c << ": atom a" << a << " deref";
  }
};

/// The server expires a client's session; later commands must not notice but for latency.
struct expire_session : command {
  std::size_t c = any_client();
  void run(const model&, system_under_test& s) const override {
    s.store->expire(s.clients[c]->session()->session_id());
  }
  void show(std::ostream& os) const override { os << "client " << c << ": session expires"; }
};

/// Client 0's next commit loses its reply, applied or not; it must still apply exactly once.
struct lose_next_reply : command {
  bool applied = *rc::gen::arbitrary<bool>();
  void run(const model&, system_under_test& s) const override {
    s.hooks->fail_next_multi(applied ? dstm_test::multi_hooks::fault::lose_after_apply
                                     : dstm_test::multi_hooks::fault::lose_before_apply);
  }
  void show(std::ostream& os) const override {
    os << "client 0: next commit's reply is lost (" << (applied ? "applied" : "not applied") << ")";
  }
};

RC_GTEST_PROP(StmModel, RefsAndAtomsBehaveLikeTheModel, ()) {
  system_under_test sut;
  rc::state::check(model{}, sut,
                   rc::state::gen::execOneOfWithArgs<alter, ref_set, commute, transfer, deref_all,
                                                     atom_update, atom_reset, atom_cas, atom_deref,
                                                     expire_session, lose_next_reply>());
  // Whatever happened, both clients end up agreeing.
  for (std::size_t r = 0; r < n_refs; ++r) {
    RC_ASSERT(sut.refs[0][r]->deref() == sut.refs[1][r]->deref());
  }
}

}  // namespace
