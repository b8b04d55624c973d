// with_zookeeper COMMAND [ARGS...]: starts a standalone ZooKeeper server on a free loopback port
// (fsync on, ZooKeeper's default, unless DSTM_BENCH_FSYNC=0), runs COMMAND with
// DSTM_BENCH_ZOOKEEPER=127.0.0.1:PORT in its environment, stops the server when COMMAND ends
// and exits with COMMAND's status. bench/run.sh runs the whole suite under it, so every
// benchmark and peer of one run measures the same server.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dstm/testing/zookeeper_server.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: with_zookeeper COMMAND [ARGS...]\n");
    return 2;
  }
  const char* fsync = std::getenv("DSTM_BENCH_FSYNC");
  dstm::testing::zookeeper_server::options opts;
  opts.force_sync = !(fsync && std::string(fsync) == "0");
  try {
    dstm::testing::zookeeper_server server(opts);
    ::setenv("DSTM_BENCH_ZOOKEEPER", server.connect_string().c_str(), 1);
    std::fprintf(stderr, "with_zookeeper: server %s, fsync %s\n", server.connect_string().c_str(),
                 opts.force_sync ? "on" : "off");
    const pid_t child = ::fork();
    if (child < 0) {
      std::perror("with_zookeeper: fork");
      return 1;
    }
    if (child == 0) {
      ::execvp(argv[1], argv + 1);
      std::fprintf(stderr, "with_zookeeper: cannot run %s: %s\n", argv[1], std::strerror(errno));
      ::_exit(127);
    }
    // Ctrl-C reaches the child too: wait for it, then remove the server and its data.
    ::signal(SIGINT, SIG_IGN);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "with_zookeeper: %s\n", e.what());
    return 1;
  }
}
