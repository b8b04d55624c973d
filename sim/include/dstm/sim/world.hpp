#pragma once
/// \file
/// `dstm::sim::world`: virtual time, a deterministic event queue and simulated threads.
///
/// A world owns one seed. Everything random in a run is drawn from generators forked from it
/// (`stream(label)`); time is an integer number of virtual nanoseconds that moves only when the
/// scheduler pops the next event; events at the same time run in the order they were scheduled
/// (a sequence number breaks ties, as in FoundationDB's simulator). Simulated threads are fibers
/// (ucontext) on mmap'd stacks with a guard page: exactly one runs at a time, and a thread runs
/// until it blocks — in `sleep_for`, on a coordinator reply, on an event. So a run is a pure
/// function of the seed, and `trace_hash()` summarises it.
///
/// Threads: all of a world's methods must be called from the one OS thread that runs it.

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dstm/sim/buggify.hpp"
#include "dstm/sim/random.hpp"

namespace dstm::sim {

/// Nanosecond helpers for readable configurations.
inline constexpr std::int64_t microseconds = 1'000;
inline constexpr std::int64_t milliseconds = 1'000'000;
inline constexpr std::int64_t seconds = 1'000'000'000;

/// Knobs of a world.
struct world_options {
  /// Usable stack of each simulated thread (a guard page is added below it).
  std::size_t stack_size = 256 * 1024;
  /// `run()` throws `time_limit_error` when virtual time passes this: a livelock guard.
  std::int64_t time_limit_ns = 24 * 3600 * seconds;
  /// Whether `DSTM_BUGGIFY` fault points may fire during `run()`.
  bool buggify = false;
};

/// `run()` found simulated threads that can never be woken (nothing left to happen).
class deadlock_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// `run()` passed `world_options::time_limit_ns` of virtual time.
class time_limit_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

/// Thrown inside a blocked simulated thread to unwind its stack when the world ends before it
/// finished. Not derived from std::exception, so ordinary `catch (const std::exception&)`
/// handlers do not swallow it.
struct fiber_unwind {};

/// An mmap'd stack whose lowest page is inaccessible, so an overflow faults instead of
/// silently corrupting a neighbour.
class fiber_stack {
 public:
  explicit fiber_stack(std::size_t usable) {
    page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    usable_ = (usable + page_ - 1) / page_ * page_;
    total_ = usable_ + page_;
    void* p = ::mmap(nullptr, total_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(), "mmap of a simulated thread's stack");
    }
    base_ = static_cast<char*>(p);
    if (::mprotect(base_, page_, PROT_NONE) != 0) {
      const int e = errno;
      ::munmap(base_, total_);
      throw std::system_error(
          e, std::generic_category(),
          "mprotect of a simulated thread's guard page (too many live threads?)");
    }
  }
  fiber_stack(const fiber_stack&) = delete;
  fiber_stack& operator=(const fiber_stack&) = delete;
  ~fiber_stack() { ::munmap(base_, total_); }

  void* bottom() const noexcept { return base_ + page_; }
  std::size_t size() const noexcept { return usable_; }

 private:
  char* base_ = nullptr;
  std::size_t page_ = 0, usable_ = 0, total_ = 0;
};

// Switching contexts. On x86-64 a hand-written switch saves only what the ABI makes callee-saved
// (six registers, MXCSR and the x87 control word): swapcontext also saves the signal mask, a
// system call per switch that would cost a third of the simulator's speed. Elsewhere, or with
// DSTM_SIM_UCONTEXT defined, ucontext is used.
#if defined(__x86_64__) && defined(__linux__) && !defined(DSTM_SIM_UCONTEXT)
#define DSTM_SIM_ASM_SWITCH 1
extern "C" void dstm_sim_switch_context(void** save_sp, void* load_sp);
// Weak, so every translation unit may carry the definition and the linker keeps one.
asm(R"(
  .pushsection .text
  .weak dstm_sim_switch_context
  .type dstm_sim_switch_context, @function
dstm_sim_switch_context:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size dstm_sim_switch_context, .-dstm_sim_switch_context
  .popsection
)");

struct context {
  void* sp = nullptr;
};
inline void switch_context(context& from, context& to) noexcept {
  dstm_sim_switch_context(&from.sp, to.sp);
}
/// Prepares `c` to start `start` on the stack [bottom, bottom + size).
inline void make_context(context& c, void* bottom, std::size_t size, void (*start)()) noexcept {
  auto top = (reinterpret_cast<std::uintptr_t>(bottom) + size) & ~std::uintptr_t{15};
  auto* slot = reinterpret_cast<std::uint64_t*>(top);
  *--slot = 0;  // where `start`'s return address would be: ends unwinding and backtraces
  *--slot = reinterpret_cast<std::uint64_t>(start);  // the switch's `ret` lands here
  for (int i = 0; i < 6; ++i) *--slot = 0;           // rbp rbx r12 r13 r14 r15
  *--slot = 0x037F'00001F80ULL;                      // x87 control word : MXCSR defaults
  c.sp = slot;
}
#else
struct context {
  ucontext_t uc{};
};
inline void switch_context(context& from, context& to) noexcept { ::swapcontext(&from.uc, &to.uc); }
inline void make_context(context& c, void* bottom, std::size_t size, void (*start)()) noexcept {
  ::getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = bottom;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  ::makecontext(&c.uc, start, 0);
}
#endif

struct fiber {
  enum class status { ready, running, blocked, done };
  std::uint64_t id = 0;
  std::string name;
  std::function<void()> fn;
  bool daemon = false;
  status state = status::ready;
  std::uint64_t token = 0;  // bumped on every resume, so a stale wake-up is ignored
  bool cancel = false;
  context ctx;
  std::unique_ptr<fiber_stack> stack;
};

}  // namespace detail

/// The simulated world: clock, event queue, simulated threads, seed streams and trace hash.
class world final : private detail::buggify_source {
 public:
  /// A blocked thread and the wake-up it waits for (see `prepare_block`).
  struct wait_handle {
    detail::fiber* thread = nullptr;
    std::uint64_t token = 0;
  };

  explicit world(std::uint64_t seed, world_options options = {})
      : seed_(seed), options_(options), root_(seed), buggify_rng_(root_.fork("buggify")) {}

  world(const world&) = delete;
  world& operator=(const world&) = delete;

  /// Unwinds the threads that are still blocked (their destructors run), then frees them.
  ~world() { cancel_all(); }

  std::uint64_t seed() const noexcept { return seed_; }
  const world_options& options() const noexcept { return options_; }

  /// Virtual time in nanoseconds since the world began.
  std::int64_t now() const noexcept { return now_; }

  /// A generator for one component, derived from the seed and `label` only — so adding a
  /// component (or a draw in one) does not perturb the others.
  rng stream(std::string_view label) const noexcept { return root_.fork(label); }

  /// The running summary of the run. Components add what they observe (deliveries, results,
  /// faults); the world itself adds every event's time.
  trace_hash& trace() noexcept { return trace_; }
  std::uint64_t trace_value() const noexcept { return trace_.value(); }

  /// Schedules `fn` at virtual time `time` (not before now). It runs on the scheduler, not in a
  /// simulated thread, so it must not block; events at equal times run in scheduling order.
  void at(std::int64_t time, std::function<void()> fn) {
    push(std::max(time, now_), nullptr, 0, std::move(fn));
  }
  /// Schedules `fn` after `delay` nanoseconds.
  void after(std::int64_t delay, std::function<void()> fn) {
    at(now_ + std::max<std::int64_t>(delay, 0), std::move(fn));
  }

  /// Starts a simulated thread that `run()` waits for. An exception escaping `fn` stops the run
  /// and is rethrown from `run()`. Returns the thread's id.
  std::uint64_t spawn(std::string name, std::function<void()> fn) {
    return start(std::move(name), std::move(fn), false);
  }
  /// Starts a background simulated thread (e.g. a watch dispatcher) that `run()` does not wait
  /// for; it is unwound when the world ends.
  std::uint64_t spawn_daemon(std::string name, std::function<void()> fn) {
    return start(std::move(name), std::move(fn), true);
  }

  /// True inside a simulated thread.
  bool in_thread() const noexcept { return current_ != nullptr; }
  /// The running simulated thread's name ("" on the scheduler).
  std::string_view current_name() const noexcept {
    return current_ ? std::string_view(current_->name) : std::string_view{};
  }

  /// Blocks the calling simulated thread for `ns` of virtual time (0: let others at this
  /// instant run first).
  void sleep_for(std::int64_t ns) {
    const auto h = prepare_block("sleep_for");
    wake_at(h, now_ + std::max<std::int64_t>(ns, 0));
    block();
  }
  void yield() { sleep_for(0); }

  /// First half of blocking: names the wake-up the calling thread will wait for. Hand the handle
  /// to whoever will wake it (`wake`, `wake_at`), then call `block()`. Throws std::logic_error
  /// outside a simulated thread: a blocking call made from the scheduler or from `main` would
  /// otherwise hang the simulation.
  wait_handle prepare_block(const char* what = "a blocking call") {
    if (current_ == nullptr) {
      throw std::logic_error(std::string("dstm::sim: ") + what +
                             " outside a simulated thread (use world::spawn)");
    }
    return {current_, current_->token};
  }
  /// Suspends the calling thread until a wake-up of its current handle is delivered.
  void block() {
    detail::fiber* self = current_;
    if (self->cancel) throw detail::fiber_unwind{};
    self->state = detail::fiber::status::blocked;
    detail::switch_context(self->ctx, scheduler_);
    if (self->cancel) throw detail::fiber_unwind{};
  }
  /// Wakes `h`'s thread at the current time, if it still waits for this handle.
  void wake(wait_handle h) { wake_at(h, now_); }
  void wake_at(wait_handle h, std::int64_t time) {
    if (h.thread == nullptr) return;
    push(std::max(time, now_), h.thread, h.token, {});
  }

  /// Runs until every thread started with `spawn` has finished. Rethrows an exception that
  /// escaped a thread; throws `deadlock_error` when threads remain but nothing can wake them,
  /// and `time_limit_error` past the time limit. Background events (a fault injector's timer)
  /// do not keep the world running.
  void run() { run_loop(options_.time_limit_ns, true); }

  /// Runs every event up to virtual time `time` (inclusive), then sets the clock to `time`.
  void run_until(std::int64_t time) {
    run_loop(time, false);
    now_ = std::max(now_, time);
  }
  void run_for(std::int64_t ns) { run_until(now_ + ns); }

  /// Simulated threads started with `spawn` that have not finished.
  std::size_t live_threads() const noexcept { return live_foreground_; }
  /// Events waiting in the queue.
  std::size_t pending_events() const noexcept { return queue_.size(); }

  /// Unwinds every blocked thread (a `fiber_unwind` is thrown from its blocking call) so their
  /// stacks' destructors run. Call it before destroying objects those threads still use.
  void cancel_all() {
    if (current_ != nullptr)
      throw std::logic_error("dstm::sim: cancel_all from a simulated thread");
    for (std::size_t i = 0; i < fibers_.size(); ++i) {
      auto& f = *fibers_[i];
      // A thread that swallows fiber_unwind and blocks again gets a few more chances, then is
      // abandoned (its stack is freed without unwinding).
      for (int attempt = 0; attempt < 4 && f.state != detail::fiber::status::done; ++attempt) {
        f.cancel = true;
        if (f.state == detail::fiber::status::ready) {
          f.state = detail::fiber::status::done;
          finish(f);
          break;
        }
        resume(f);
      }
    }
    failure_ = nullptr;
    queue_.clear();
  }

 private:
  struct item {
    std::int64_t time;
    std::uint64_t seq;
    detail::fiber* thread;  // non-null: a wake-up of this thread
    std::uint64_t token;
    std::function<void()> fn;
  };
  struct later {
    bool operator()(const item& a, const item& b) const noexcept {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };

  void push(std::int64_t time, detail::fiber* thread, std::uint64_t token,
            std::function<void()> fn) {
    queue_.push_back(item{time, next_seq_++, thread, token, std::move(fn)});
    std::push_heap(queue_.begin(), queue_.end(), later{});
  }

  std::uint64_t start(std::string name, std::function<void()> fn, bool daemon) {
    auto f = std::make_unique<detail::fiber>();
    f->id = fibers_.size() + 1;
    f->name = std::move(name);
    f->fn = std::move(fn);
    f->daemon = daemon;
    if (!daemon) ++live_foreground_;
    detail::fiber* raw = f.get();
    fibers_.push_back(std::move(f));
    push(now_, raw, 0, {});
    return raw->id;
  }

  std::unique_ptr<detail::fiber_stack> take_stack() {
    if (!spare_stacks_.empty()) {
      auto s = std::move(spare_stacks_.back());
      spare_stacks_.pop_back();
      return s;
    }
    return std::make_unique<detail::fiber_stack>(options_.stack_size);
  }

  /// The world starting a thread on this OS thread: how `entry` finds it without arguments.
  static world*& starting() noexcept {
    static thread_local world* w = nullptr;
    return w;
  }
  static void entry() { starting()->thread_main(); }

  void thread_main() {
    detail::fiber* self = current_;
    try {
      if (!self->cancel) self->fn();
    } catch (const detail::fiber_unwind&) {
    } catch (...) {
      if (!failure_) failure_ = std::current_exception();
    }
    self->fn = nullptr;
    self->state = detail::fiber::status::done;
    detail::switch_context(self->ctx, scheduler_);
  }

  void finish(detail::fiber& f) {
    if (f.stack) spare_stacks_.push_back(std::move(f.stack));
    f.fn = nullptr;
    if (!f.daemon) --live_foreground_;
  }

  void resume(detail::fiber& f) {
    if (f.state == detail::fiber::status::ready) {
      f.stack = take_stack();
      detail::make_context(f.ctx, f.stack->bottom(), f.stack->size(), &world::entry);
    }
    ++f.token;
    f.state = detail::fiber::status::running;
    current_ = &f;
    starting() = this;
    detail::switch_context(scheduler_, f.ctx);
    current_ = nullptr;
    if (f.state == detail::fiber::status::done) finish(f);
  }

  void run_loop(std::int64_t limit, bool until_threads_done) {
    if (current_ != nullptr)
      throw std::logic_error("dstm::sim: world::run from a simulated thread");
    detail::buggify_source* previous = detail::active_buggify;
    detail::active_buggify = options_.buggify ? this : nullptr;
    struct restore {
      detail::buggify_source* p;
      ~restore() { detail::active_buggify = p; }
    } guard{previous};

    while (!queue_.empty()) {
      if (until_threads_done && live_foreground_ == 0) return;
      if (queue_.front().time > limit) {
        if (until_threads_done) {
          throw time_limit_error("dstm::sim: virtual time limit of " + std::to_string(limit) +
                                 " ns reached with " + std::to_string(live_foreground_) +
                                 " threads running (livelock?) at seed " + std::to_string(seed_));
        }
        return;
      }
      std::pop_heap(queue_.begin(), queue_.end(), later{});
      item it = std::move(queue_.back());
      queue_.pop_back();
      now_ = it.time;
      if (it.thread != nullptr) {
        auto& f = *it.thread;
        const bool runnable = (f.state == detail::fiber::status::ready && it.token == 0) ||
                              (f.state == detail::fiber::status::blocked && it.token == f.token);
        if (!runnable) continue;
        trace_.add_all(it.time, 0x7e11u, f.id);
        resume(f);
        if (failure_) {
          auto e = std::exchange(failure_, nullptr);
          std::rethrow_exception(e);
        }
      } else {
        trace_.add(static_cast<std::uint64_t>(it.time));
        it.fn();
      }
    }
    if (until_threads_done && live_foreground_ > 0) {
      std::string names;
      for (const auto& f : fibers_) {
        if (!f->daemon && f->state != detail::fiber::status::done) {
          if (!names.empty()) names += ", ";
          names += f->name;
        }
      }
      throw deadlock_error("dstm::sim: deadlock at t=" + std::to_string(now_) +
                           " ns: nothing can wake the threads " + names);
    }
  }

  bool buggify_fire(const char* file, int line) noexcept override {
    std::string_view f(file);
    if (const auto slash = f.rfind('/'); slash != std::string_view::npos)
      f.remove_prefix(slash + 1);
    const std::uint64_t site =
        mix64(seed_ ^ hash_bytes(f) ^ (static_cast<std::uint64_t>(line) << 32));
    if (site % 4 != 0) return false;
    const bool fire = buggify_rng_.one_in(4);
    trace_.add_all(site, fire ? 1u : 2u);
    return fire;
  }

  std::uint64_t seed_;
  world_options options_;
  rng root_;
  rng buggify_rng_;
  trace_hash trace_;
  std::int64_t now_ = 0;
  std::uint64_t next_seq_ = 0;
  std::vector<item> queue_;
  std::vector<std::unique_ptr<detail::fiber>> fibers_;
  std::vector<std::unique_ptr<detail::fiber_stack>> spare_stacks_;
  std::size_t live_foreground_ = 0;
  detail::fiber* current_ = nullptr;
  detail::context scheduler_;
  std::exception_ptr failure_;
};

/// A one-shot flag a simulated thread can wait on with a timeout; `set()` may be called from a
/// thread or from the scheduler (an in-order watch callback).
class event {
 public:
  explicit event(world& w) noexcept : world_(&w) {}

  /// Sets the flag and wakes every waiter (at the current virtual time).
  void set() {
    if (set_) return;
    set_ = true;
    for (const auto& h : waiters_) world_->wake(h);
    waiters_.clear();
  }
  bool is_set() const noexcept { return set_; }

  /// Waits until set or `timeout_ns` passed (negative: forever); true when set.
  bool wait(std::int64_t timeout_ns) {
    if (set_) return true;
    if (timeout_ns == 0) return false;
    const auto h = world_->prepare_block("event::wait");
    waiters_.push_back(h);
    if (timeout_ns > 0) world_->wake_at(h, world_->now() + timeout_ns);
    world_->block();
    if (!set_) {
      std::erase_if(waiters_, [&](const world::wait_handle& w) {
        return w.thread == h.thread && w.token == h.token;
      });
    }
    return set_;
  }

 private:
  world* world_;
  bool set_ = false;
  std::vector<world::wait_handle> waiters_;
};

}  // namespace dstm::sim
