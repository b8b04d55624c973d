// Tests of dstm::embedded: the coordinator contract on one in-process store with real threads.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <dstm/embedded.hpp>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using dstm::coordinator_errc;
using dstm::create_mode;
using dstm::event_type;
using dstm::session_state;
namespace embedded = dstm::embedded;

constexpr std::int64_t k_wait_ns = 5'000'000'000;  // generous: a failure, not a slow machine

static_assert(dstm::coordinator<embedded::coordinator>);

std::error_code code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const dstm::coordinator_error& e) {
    return e.code();
  }
  return {};
}

TEST(embedded, crud_through_both_api_flavours) {
  auto store = std::make_shared<embedded::store>();
  auto zk = embedded::open(store);
  EXPECT_NE(zk->session_id(), 0);
  EXPECT_EQ(zk->state(), session_state::connected);
  EXPECT_EQ(zk->create("/a", "1"), "/a");
  EXPECT_EQ(zk->get("/a").data, "1");
  EXPECT_EQ(zk->set("/a", "2", 0).version, 1);
  EXPECT_EQ(code_of([&] { zk->set("/a", "3", 0); }), coordinator_errc::bad_version);
  EXPECT_EQ(code_of([&] { zk->create("/a"); }), coordinator_errc::node_exists);
  EXPECT_EQ(code_of([&] { zk->get("/nope"); }), coordinator_errc::no_node);
  EXPECT_EQ(code_of([&] { zk->get("bad"); }), coordinator_errc::bad_arguments);
  std::error_code ec;
  zk->remove("/nope", dstm::any_version, ec);
  EXPECT_EQ(ec, coordinator_errc::no_node);
  EXPECT_FALSE(zk->exists("/nope").has_value());
  EXPECT_EQ(zk->create("/q/", "", create_mode::persistent, ec), "");
  EXPECT_EQ(ec, coordinator_errc::bad_arguments);
  zk->create("/q");
  EXPECT_EQ(zk->create("/q/n-", "", create_mode::persistent_sequential), "/q/n-0000000000");
  // ctime comes from the system clock in milliseconds.
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  EXPECT_LE(std::abs(zk->exists("/q")->ctime - ms), 60'000);
  const std::vector<dstm::op> ops{dstm::op::check("/a", 1), dstm::op::remove("/a", 1)};
  zk->multi(ops);
  EXPECT_FALSE(zk->exists("/a").has_value());
  EXPECT_EQ(zk->children("/q").names, std::vector<std::string>{"n-0000000000"});
  zk->sync("/");
  zk->add_auth("digest", "u:p");
  zk->create("/secret", "s", create_mode::persistent, dstm::creator_all_acl());
  EXPECT_EQ(zk->get_acl("/secret").at(0).id, dstm::digest_id("u:p"));
  auto other = embedded::open(store);
  EXPECT_EQ(code_of([&] { other->get("/secret"); }), coordinator_errc::not_authorized);
  zk->set_acl("/secret", dstm::open_acl_unsafe(), 0);
  EXPECT_EQ(other->get("/secret").data, "s");
  EXPECT_EQ(store->session_count(), 2u);
}

TEST(embedded, plain_watches_run_on_the_dispatcher_in_order_and_may_call_back) {
  auto store = std::make_shared<embedded::store>();
  auto zk = embedded::open(store);
  zk->create("/w", "0");
  std::mutex m;
  std::vector<std::string> seen;
  std::thread::id callback_thread;
  auto done = zk->make_event();
  // Each callback re-reads with a new watch: calling the coordinator from a plain callback
  // must not deadlock, and the re-armed watch catches the next change.
  std::function<void(const dstm::watch_event&)> on_change;
  // Events are captured by value: the setter must keep an event alive until set() returns.
  on_change = [&, done](const dstm::watch_event& e) {
    const auto data = zk->get("/w", dstm::watch{on_change}).data;
    std::lock_guard lock(m);
    callback_thread = std::this_thread::get_id();
    seen.push_back(std::to_string(static_cast<int>(e.type)) + ":" + data);
    if (data == "3") done->set();
  };
  zk->get("/w", dstm::watch{on_change});
  zk->set("/w", "1");
  // Wait for the re-armed watch before the next write, so every change is seen once.
  for (const char* v : {"2", "3"}) {
    for (int i = 0;
         i < 500 && store->inspect([](const dstm::znode_tree& t) { return t.watch_count(); }) == 0;
         ++i) {
      zk->sleep_for(1'000'000);
    }
    zk->set("/w", v);
  }
  ASSERT_TRUE(zk->wait(*done, k_wait_ns));
  std::lock_guard lock(m);
  EXPECT_EQ(seen, (std::vector<std::string>{"3:1", "3:2", "3:3"}));
  EXPECT_NE(callback_thread, std::this_thread::get_id());
}

TEST(embedded, in_order_watches_run_before_the_write_returns) {
  auto store = std::make_shared<embedded::store>();
  auto reader = embedded::open(store);
  auto writer = embedded::open(store);
  writer->create("/x", "a");
  std::atomic<int> fired{0};
  std::thread::id where;
  reader->get("/x", dstm::watch{[&](const dstm::watch_event& e) {
                                  EXPECT_EQ(e.type, event_type::changed);
                                  EXPECT_EQ(e.path, "/x");
                                  where = std::this_thread::get_id();
                                  fired.fetch_add(1);
                                },
                                true});
  std::thread t([&] { writer->set("/x", "b"); });
  const auto writer_id = t.get_id();
  t.join();
  EXPECT_EQ(fired.load(), 1);  // already ran: set() has returned
  EXPECT_EQ(where, writer_id);
  writer->set("/x", "c");  // one-shot
  EXPECT_EQ(fired.load(), 1);
}

TEST(embedded, exists_and_child_watches) {
  auto store = std::make_shared<embedded::store>();
  auto a = embedded::open(store);
  auto b = embedded::open(store);
  auto created = a->make_event();
  auto child = a->make_event();
  EXPECT_FALSE(a->exists("/p", dstm::watch{[created](const dstm::watch_event& e) {
                           if (e.type == event_type::created) created->set();
                         }})
                   .has_value());
  b->create("/p");
  ASSERT_TRUE(a->wait(*created, k_wait_ns));
  a->children("/p", dstm::watch{[child](const dstm::watch_event& e) {
                if (e.type == event_type::child && e.path == "/p") child->set();
              }});
  b->create("/p/c", "", create_mode::ephemeral);
  ASSERT_TRUE(a->wait(*child, k_wait_ns));
}

TEST(embedded, many_threads_and_sessions_keep_every_update) {
  auto store = std::make_shared<embedded::store>();
  auto setup = embedded::open(store);
  setup->create("/counter", "0");
  setup->create("/seq");
  setup->create("/acct");
  setup->create("/acct/a", "1000");
  setup->create("/acct/b", "1000");
  constexpr int threads = 6;
  constexpr int rounds = 200;
  std::vector<std::thread> pool;
  std::mutex m;
  std::set<std::string> names;
  std::atomic<int> conflicts{0};
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto zk = embedded::open(store);  // a session per thread
      for (int i = 0; i < rounds; ++i) {
        // Compare-and-set increment.
        while (true) {
          auto n = zk->get("/counter");
          std::error_code ec;
          zk->set("/counter", std::to_string(std::stoi(n.data) + 1), n.stat.version, ec);
          if (!ec) break;
          ASSERT_EQ(ec, coordinator_errc::bad_version);
          conflicts.fetch_add(1);
        }
        // A transfer between two accounts in one multi, version-checked.
        while (true) {
          const std::vector<std::string> paths{"/acct/a", "/acct/b"};
          auto r = zk->get_many(paths);
          const int amount = (t + i) % 7;
          const std::vector<dstm::op> ops{
              dstm::op::set("/acct/a", std::to_string(std::stoi(r[0].node.data) - amount),
                            r[0].node.stat.version),
              dstm::op::set("/acct/b", std::to_string(std::stoi(r[1].node.data) + amount),
                            r[1].node.stat.version)};
          std::error_code ec;
          zk->multi(ops, ec);
          if (!ec) break;
          ASSERT_EQ(ec, coordinator_errc::bad_version);
        }
        auto name = zk->create("/seq/n-", "", create_mode::persistent_sequential);
        std::lock_guard lock(m);
        names.insert(name);
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(setup->get("/counter").data, std::to_string(threads * rounds));
  EXPECT_EQ(std::stoi(setup->get("/acct/a").data) + std::stoi(setup->get("/acct/b").data), 2000);
  EXPECT_EQ(names.size(), static_cast<std::size_t>(threads * rounds));
  EXPECT_EQ(*names.begin(), "/seq/n-0000000000");
  EXPECT_EQ(*names.rbegin(), "/seq/n-" + dstm::sequence_suffix(threads * rounds - 1));
  EXPECT_EQ(setup->exists("/counter")->version, threads * rounds);
  // The worker sessions were closed when their coordinators went away.
  EXPECT_EQ(store->session_count(), 1u);
}

TEST(embedded, expiry_removes_ephemerals_notifies_and_fails_later_calls) {
  auto store = std::make_shared<embedded::store>();
  auto victim = embedded::open(store);
  auto observer = embedded::open(store);
  victim->create("/lock", "", create_mode::ephemeral);
  auto gone = observer->make_event();
  observer->exists("/lock", dstm::watch{[gone](const dstm::watch_event& e) {
                     if (e.type == event_type::deleted) gone->set();
                   }});
  std::atomic<int> victim_watch_fired{0};
  observer->create("/other");
  victim->get("/other", dstm::watch{[&](const dstm::watch_event&) { ++victim_watch_fired; }});
  auto expired = victim->make_event();
  std::atomic<int> unsubscribed_calls{0};
  victim->subscribe([expired](session_state s) {
    if (s == session_state::expired) expired->set();
  });
  const auto id = victim->subscribe([&](session_state) { ++unsubscribed_calls; });
  victim->unsubscribe(id);

  EXPECT_TRUE(store->expire(victim->session_id()));
  EXPECT_FALSE(store->expire(victim->session_id()));
  EXPECT_FALSE(store->expire(987654));
  ASSERT_TRUE(observer->wait(*gone, k_wait_ns));
  ASSERT_TRUE(victim->wait(*expired, k_wait_ns));
  EXPECT_EQ(victim->state(), session_state::expired);
  EXPECT_FALSE(observer->exists("/lock").has_value());
  EXPECT_EQ(code_of([&] { victim->get("/other"); }), coordinator_errc::session_expired);
  EXPECT_EQ(code_of([&] { victim->create("/x"); }), coordinator_errc::session_expired);
  std::error_code ec;
  auto r = victim->multi(std::vector<dstm::op>{dstm::op::check("/", -1)}, ec);
  EXPECT_EQ(ec, coordinator_errc::session_expired);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].ec, coordinator_errc::session_expired);
  // The expired session's watches are gone: a change does not reach them.
  auto flushed = observer->make_event();
  observer->get("/other", dstm::watch{[flushed](const dstm::watch_event&) { flushed->set(); }});
  observer->set("/other", "x");
  ASSERT_TRUE(observer->wait(*flushed, k_wait_ns));  // FIFO: anything earlier has run
  EXPECT_EQ(victim_watch_fired.load(), 0);
  EXPECT_EQ(unsubscribed_calls.load(), 0);
  victim->close();  // after expiry: nothing to do
  EXPECT_EQ(victim->state(), session_state::expired);
}

TEST(embedded, close_is_idempotent_and_later_calls_fail_with_closing) {
  auto store = std::make_shared<embedded::store>();
  auto a = embedded::open(store);
  auto b = embedded::open(store);
  a->create("/e", "", create_mode::ephemeral_sequential);
  a->create("/kept");
  const auto before = store->inspect([](const dstm::znode_tree& t) { return t.node_count(); });
  a->close();
  a->close();
  EXPECT_EQ(a->state(), session_state::closed);
  EXPECT_EQ(store->inspect([](const dstm::znode_tree& t) { return t.node_count(); }), before - 1);
  EXPECT_TRUE(b->exists("/kept").has_value());
  EXPECT_EQ(code_of([&] { a->get("/kept"); }), coordinator_errc::closing);
  EXPECT_EQ(code_of([&] { a->sync(); }), coordinator_errc::closing);
  EXPECT_EQ(code_of([&] { a->add_auth("digest", "x:y"); }), coordinator_errc::closing);
  EXPECT_FALSE(store->expire(a->session_id()));
  // Destroying a coordinator closes its session too.
  b->create("/b-eph", "", create_mode::ephemeral);
  b.reset();
  auto c = embedded::open(store);
  EXPECT_FALSE(c->exists("/b-eph").has_value());
  EXPECT_EQ(store->session_count(), 1u);
  EXPECT_THROW(embedded::coordinator{nullptr}, std::invalid_argument);
}

TEST(embedded, get_many_reads_in_order_under_one_lock_and_leaves_watches) {
  auto store = std::make_shared<embedded::store>();
  auto zk = embedded::open(store);
  zk->create("/m1", "one");
  zk->create("/m2", "two");
  std::atomic<int> fired{0};
  const std::vector<std::string> paths{"/m1", "/missing", "/m2", "bad"};
  auto r = zk->get_many(paths, dstm::watch{[&](const dstm::watch_event&) { ++fired; }, true});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].node.data, "one");
  EXPECT_EQ(r[1].ec, coordinator_errc::no_node);
  EXPECT_EQ(r[2].node.data, "two");
  EXPECT_EQ(r[3].ec, coordinator_errc::bad_arguments);
  EXPECT_EQ(store->inspect([](const dstm::znode_tree& t) { return t.watch_count(); }), 2u);
  zk->set("/m1", "x");
  zk->set("/m2", "y");
  EXPECT_EQ(fired.load(), 2);
}

TEST(embedded, clock_sleep_and_events) {
  auto zk = embedded::open(std::make_shared<embedded::store>());
  const auto t0 = zk->now();
  zk->sleep_for(2'000'000);
  EXPECT_GE(zk->now() - t0, 2'000'000);
  auto e = zk->make_event();
  EXPECT_FALSE(zk->wait(*e, 1'000'000));
  std::thread setter([&] { e->set(); });
  EXPECT_TRUE(zk->wait(*e, -1));
  setter.join();
  EXPECT_TRUE(e->is_set());
}

TEST(embedded, default_store_is_shared_by_open) {
  auto a = embedded::open();
  auto b = embedded::open();
  EXPECT_EQ(a->get_store(), b->get_store());
  EXPECT_EQ(a->get_store(), embedded::default_store());
  EXPECT_NE(a->session_id(), b->session_id());
  a->create("/default-store-test", "hi", create_mode::ephemeral);
  EXPECT_EQ(b->get("/default-store-test").data, "hi");
}

TEST(embedded, last_owner_released_by_a_callback_on_the_dispatcher) {
  auto go = std::make_shared<dstm::detail::thread_event>();
  auto done = std::make_shared<dstm::detail::thread_event>();
  {
    auto store = std::make_shared<embedded::store>();
    auto watcher = embedded::open(store);
    auto writer = embedded::open(store);
    writer->create("/z");
    // Fires first and holds the dispatcher until `writer` is gone.
    writer->get("/z", dstm::watch{[go](const dstm::watch_event&) { go->wait(-1); }});
    // Owns the last reference to `watcher`, which owns the store: both are destroyed on the
    // dispatcher thread when this callback's task is released.
    watcher->get("/z",
                 dstm::watch{[keep = watcher, done](const dstm::watch_event&) { done->set(); }});
    watcher.reset();
    store.reset();
    writer->set("/z", "x");
  }
  go->set();
  ASSERT_TRUE(done->wait(k_wait_ns));
  // Give the dispatcher time to run the destructors; a join on itself would terminate.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

TEST(embedded, replies_and_events_share_one_sequence_per_session) {
  auto store = std::make_shared<embedded::store>();
  auto reader = embedded::open(store);
  auto writer = embedded::open(store);
  writer->create("/s", "0");
  std::atomic<std::uint64_t> event_sequence{0};
  const auto first = reader->get(
      "/s", dstm::watch{[&](const dstm::watch_event& e) { event_sequence = e.sequence; }, true});
  EXPECT_GT(first.sequence, 0u);
  writer->set("/s", "1");
  const auto second = reader->get("/s");
  EXPECT_GT(event_sequence.load(), first.sequence);
  EXPECT_GT(second.sequence, event_sequence.load());
  const std::vector<std::string> paths{"/s", "/s"};
  const auto many = reader->get_many(paths);
  EXPECT_GT(many[0].node.sequence, second.sequence);
  EXPECT_GT(many[1].node.sequence, many[0].node.sequence);
  // Another session's stream is its own.
  EXPECT_LT(writer->get("/s").sequence, second.sequence);
}

}  // namespace
