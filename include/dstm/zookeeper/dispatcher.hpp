#pragma once
/// \file
/// The ZooKeeper coordinator's dispatcher: one thread that runs plain watches and session
/// listeners in the order they were posted, off the C client's completion thread, so user code
/// there may block or call the coordinator.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace dstm::zookeeper::detail {

class dispatcher {
 public:
  dispatcher() : shared_(std::make_shared<shared>()) {
    // The thread owns a reference to the queue, never to `this`: when `stop` is called from
    // the dispatcher thread itself (a listener closing its coordinator), the thread is detached
    // and may outlive the dispatcher object.
    thread_ = std::thread([s = shared_] { run(*s); });
    id_ = thread_.get_id();
  }
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;
  ~dispatcher() { stop(); }

  /// Queues `task`; tasks run one at a time, first in first out. Never blocks for long (safe on
  /// the completion thread). Returns false once `stop` was called: the task is dropped.
  bool post(std::function<void()> task) {
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->stopping) return false;
      shared_->queue.push_back(std::move(task));
    }
    shared_->cv.notify_one();
    return true;
  }

  /// Runs what is queued, then ends the thread. Idempotent. Waits for the thread unless called
  /// from it.
  void stop() {
    {
      std::lock_guard lock(shared_->mutex);
      shared_->stopping = true;
    }
    shared_->cv.notify_one();
    if (!thread_.joinable()) return;
    if (std::this_thread::get_id() == id_) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

  bool on_dispatcher_thread() const noexcept { return std::this_thread::get_id() == id_; }

 private:
  struct shared {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
  };

  static void run(shared& s) {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(s.mutex);
        s.cv.wait(lock, [&] { return s.stopping || !s.queue.empty(); });
        if (s.queue.empty()) return;  // stopping and drained
        task = std::move(s.queue.front());
        s.queue.pop_front();
      }
      // A throwing watch or listener must not end dispatch for every later one; the contract
      // says they must not throw, so the exception is dropped.
      try {
        task();
      } catch (...) {
      }
    }
  }

  std::shared_ptr<shared> shared_;
  std::thread thread_;
  std::thread::id id_;
};

}  // namespace dstm::zookeeper::detail
