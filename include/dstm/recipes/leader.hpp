#pragma once
/// \file
/// Leader election (kazoo's Election, Curator's LeaderSelector) and a singleton service on top
/// of it (Immutant's HA daemons: start on the leader, stop when leadership ends).
///
/// \code
/// dstm::recipes::leader_election election{zk, "/election/scheduler"};
/// election.run([&](std::stop_token lost) {         // blocks until elected
///   while (!lost.stop_requested()) schedule_next_batch();
/// });                                               // leadership given up when fn returns
///
/// dstm::recipes::singleton_service svc{zk, "/services/reaper",
///                                      [&] { reaper.start(); }, [&] { reaper.stop(); }};
/// std::jthread t([&](std::stop_token st) { svc.run(st); });
/// \endcode
/// examples/recipes/leader shows a failover.

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dstm/coordinator/concept.hpp"
#include "dstm/recipes/detail/common.hpp"
#include "dstm/recipes/mutex.hpp"

namespace dstm::recipes {

/// Options of `leader_election` and `singleton_service`.
struct election_options {
  /// Stored in the participant's node; `contenders()` lists it.
  std::string identifier;
  /// How long giving up leadership retries the node's removal before retrying in the
  /// background.
  std::int64_t release_timeout_ns = 10'000'000'000;
};

/// Leader election: participants queue as ephemeral-sequential children of `path` (a fair
/// `mutex`: each watches only its predecessor); the first is the leader.
///
/// **Leadership ends** when `fn` returns or throws (the node is removed: the next participant
/// takes over), and is *lost* when the session is suspended (disconnected: the server may
/// expire it and elect another leader before this process hears of it), expires or closes:
/// then the `std::stop_token` passed to `fn` is triggered and `is_leader()` turns false at
/// once, and `fn` should stop acting as the leader and return. Leadership is given up on
/// suspension rather than kept hoping for a reconnection, as Curator's LeaderLatch does. A
/// leader that must write to a shared store should pass `token()` (a fencing token) along.
///
/// It shares every fault protection of `mutex`. Thread-safe; several threads may run for the
/// same election through one object (each is a participant).
template <coordinator C>
class leader_election {
 public:
  using coordinator_type = C;

  leader_election(std::shared_ptr<C> c, std::string path, election_options o = {})
      : c_(c),
        m_(c, std::move(path), lock_options{o.identifier, o.release_timeout_ns, {}}),
        terms_(std::make_shared<terms>()),
        link_(c, handler(terms_)) {}

  /// Waits until elected, then calls `fn(lost)` (or `fn()`), gives leadership up when it
  /// returns and returns its result; an exception from `fn` is rethrown after leadership was
  /// given up. Throws `operation_canceled` when `stop` is triggered before election (during
  /// `fn`, `stop` triggers `lost`), `errc::session_expired` when the session ends first.
  template <class F>
  decltype(auto) run(F&& fn, std::stop_token stop = {}) {
    m_.lock(stop);
    auto term = std::make_shared<typename terms::term>();
    term->token = m_.token();
    {
      std::lock_guard lock(terms_->mutex);
      terms_->active.push_back(term);
    }
    struct end_term {
      leader_election* self;
      std::shared_ptr<typename terms::term> t;
      ~end_term() {
        t->source.request_stop();
        {
          std::lock_guard lock(self->terms_->mutex);
          std::erase(self->terms_->active, t);
        }
        try {
          self->m_.unlock();
        } catch (...) {
        }
      }
    } ender{this, term};
    if (c_->state() != session_state::connected) term->source.request_stop();
    std::stop_callback forward(stop, [term] { term->source.request_stop(); });
    if constexpr (std::invocable<F&, std::stop_token>) {
      return std::forward<F>(fn)(term->source.get_token());
    } else {
      return std::forward<F>(fn)();
    }
  }

  /// True while some thread of this object leads and its leadership was not lost.
  bool is_leader() const {
    std::lock_guard lock(terms_->mutex);
    for (const auto& t : terms_->active) {
      if (!t->source.stop_requested()) return true;
    }
    return false;
  }

  /// The fencing token of this object's current term (its node's czxid), or 0.
  std::int64_t token() const {
    std::lock_guard lock(terms_->mutex);
    for (const auto& t : terms_->active) {
      if (!t->source.stop_requested()) return t->token;
    }
    return 0;
  }

  /// Identifiers of the leader and the waiting participants, in order.
  std::vector<std::string> contenders() const { return m_.contenders(); }
  const std::string& path() const noexcept { return m_.path(); }

 private:
  struct terms {
    struct term {
      std::stop_source source;
      std::int64_t token = 0;
    };
    std::mutex mutex;
    std::vector<std::shared_ptr<term>> active;
  };

  static typename detail::session_link<C>::handler handler(const std::shared_ptr<terms>& t) {
    std::weak_ptr<terms> weak = t;
    return [weak](session_state s) {
      if (s == session_state::connected) return;
      auto t = weak.lock();
      if (!t) return;
      std::lock_guard lock(t->mutex);
      for (const auto& term : t->active) term->source.request_stop();
    };
  }

  std::shared_ptr<C> c_;
  mutex<C> m_;
  std::shared_ptr<terms> terms_;
  detail::session_link<C> link_;
};

template <class C>
leader_election(std::shared_ptr<C>, std::string, election_options = {}) -> leader_election<C>;

/// A service that runs on exactly one member of the cluster at a time: `start` is called when
/// this member is elected, `stop` when its leadership ends (session suspended, expired or
/// closed, or `run`'s stop token triggered). After losing leadership while the session lives,
/// the member waits for the connection and queues again, so the service fails over and back.
///
/// `start` and `stop` run on the thread that calls `run`; `start` should start the work
/// (threads, timers) and return; `stop` must stop it before returning. An exception from
/// `start` gives leadership up and is rethrown by `run` (`stop` is not called).
template <coordinator C>
class singleton_service {
 public:
  using coordinator_type = C;

  singleton_service(std::shared_ptr<C> c, std::string path, std::function<void()> start,
                    std::function<void()> stop, election_options o = {})
      : c_(c),
        election_(c, std::move(path), std::move(o)),
        start_(std::move(start)),
        stop_(std::move(stop)),
        link_(c) {}

  /// Takes part until `stop` is triggered (then returns, after calling the `stop` callback if
  /// the service was running here). Throws `errc::session_expired` when the session ends (the
  /// callback was called first if needed): open a new session and a new service object to take
  /// part again.
  void run(std::stop_token stop) {
    while (!stop.stop_requested()) {
      wait_connected(stop);
      if (stop.stop_requested()) return;
      try {
        election_.run(
            [&](std::stop_token lost) {
              start_();
              struct call_stop {
                singleton_service* self;
                ~call_stop() {
                  try {
                    self->stop_();
                  } catch (...) {
                  }
                }
              } stopper{this};
              auto ev = c_->make_event();
              std::stop_callback wake(lost, [ev] { ev->set(); });
              c_->wait(*ev, -1);
            },
            stop);
      } catch (const dstm::error& e) {
        if (e.code() == canceled_error()) return;
        throw;
      }
    }
  }

  bool is_leader() const { return election_.is_leader(); }
  std::int64_t token() const { return election_.token(); }
  std::vector<std::string> contenders() const { return election_.contenders(); }

 private:
  /// Waits until the session is connected; throws `session_expired` when it ended.
  void wait_connected(std::stop_token stop) {
    for (;;) {
      const auto s = c_->state();
      if (detail::session_gone(s)) {
        detail::throw_session_expired("dstm: singleton service " + election_.path());
      }
      if (s == session_state::connected || stop.stop_requested()) return;
      typename detail::session_link<C>::slot slot(link_, stop);
      if (c_->state() == s) slot.wait(c_->now() + 100'000'000);
    }
  }

  std::shared_ptr<C> c_;
  leader_election<C> election_;
  std::function<void()> start_, stop_;
  detail::session_link<C> link_;
};

template <class C, class Start, class Stop>
singleton_service(std::shared_ptr<C>, std::string, Start, Stop, election_options = {})
    -> singleton_service<C>;

}  // namespace dstm::recipes
