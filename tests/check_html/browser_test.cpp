// The HTML timelines in a real browser. Headless Chromium opens each page from a file, with the
// network features off, runs its script and dumps the DOM: the test counts the bars and marks
// the script drew, drives a hover and a click through a probe script appended to a copy of the
// page, and keeps a screenshot of each page in DSTM_HTML_OUTPUT_DIR (build/tests/check_html/
// pages/*.png) for a person to look at.
//
// Each Chromium runs in its own process group with a deadline; on timeout, and after every run,
// the whole group is killed, so no browser outlives the test.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "pages.hpp"

namespace dstm::check::html_test {
namespace {

namespace fs = std::filesystem;

constexpr auto chromium_deadline = std::chrono::seconds(90);

struct browser_run {
  bool started = false;
  bool timed_out = false;
  int exit_code = -1;
  bool group_left_behind = false;  // some process of the group survived SIGKILL for 5 s
  std::string out;                 // standard output (the DOM for --dump-dom)
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Runs Chromium headless on `page` with `extra` flags, a fresh profile, and a deadline.
browser_run run_chromium(const fs::path& page, const std::vector<std::string>& extra) {
  browser_run r;
  std::string profile_template = (fs::temp_directory_path() / "dstm-chromium-XXXXXX").string();
  if (::mkdtemp(profile_template.data()) == nullptr) return r;
  const fs::path profile = profile_template;
  const fs::path out_file = profile / "stdout.txt";

  std::vector<std::string> args{DSTM_CHROMIUM,
                                "--headless",
                                "--no-sandbox",
                                "--disable-gpu",
                                "--disable-quic",
                                "--no-first-run",
                                "--disable-background-networking",
                                "--disable-component-update",
                                "--disable-sync",
                                "--disable-extensions",
                                "--user-data-dir=" + (profile / "data").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("file://" + fs::absolute(page).string());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int null = ::open("/dev/null", O_RDWR);
    if (out < 0 || null < 0) ::_exit(126);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(null, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0) return r;
  ::setpgid(pid, pid);  // also here: the group exists before the deadline can strike
  r.started = true;

  const auto deadline = std::chrono::steady_clock::now() + chromium_deadline;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  // Helpers (renderer, GPU, zygote) share the group: none may outlive the browser.
  ::kill(-pid, SIGKILL);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (::kill(-pid, 0) == 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  r.group_left_behind = ::kill(-pid, 0) == 0 || errno != ESRCH;

  r.out = read_file(out_file);
  std::error_code ignored;
  fs::remove_all(profile, ignored);
  return r;
}

class html_browser : public ::testing::Test {
 protected:
  static fs::path dir() {
    const fs::path d = DSTM_HTML_OUTPUT_DIR;
    fs::create_directories(d);
    return d;
  }

  static fs::path save(const std::string& name, const std::string& html) {
    const fs::path p = dir() / name;
    std::ofstream(p, std::ios::binary) << html;
    return p;
  }

  /// The DOM after the page's script ran.
  static std::string dom(const fs::path& page) {
    const browser_run r = run_chromium(page, {"--dump-dom"});
    EXPECT_TRUE(r.started);
    EXPECT_FALSE(r.timed_out) << page;
    EXPECT_EQ(r.exit_code, 0) << page;
    EXPECT_FALSE(r.group_left_behind) << "a Chromium process outlived the test";
    return r.out;
  }

  /// A screenshot next to the page; checks it is a 1400x900 PNG of some substance.
  static void screenshot(const fs::path& page) {
    fs::path png = page;
    png.replace_extension(".png");
    fs::remove(png);
    const browser_run r = run_chromium(
        page, {"--hide-scrollbars", "--window-size=1400,900", "--screenshot=" + png.string()});
    EXPECT_FALSE(r.timed_out);
    EXPECT_FALSE(r.group_left_behind) << "a Chromium process outlived the test";
    ASSERT_TRUE(fs::exists(png)) << "no screenshot of " << page;
    const std::string bytes = read_file(png);
    ASSERT_GT(bytes.size(), 24u);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    auto be32 = [&](std::size_t at) {
      return (static_cast<unsigned char>(bytes[at]) << 24) |
             (static_cast<unsigned char>(bytes[at + 1]) << 16) |
             (static_cast<unsigned char>(bytes[at + 2]) << 8) |
             static_cast<unsigned char>(bytes[at + 3]);
    };
    EXPECT_EQ(be32(16), 1400u);
    EXPECT_EQ(be32(20), 900u);
    // A blank or single-color 1400x900 PNG compresses to a few kilobytes; bars, text and the
    // legend take tens.
    EXPECT_GT(bytes.size(), 40'000u) << png;
  }

  /// A copy of `page` whose probe script runs after the page's own and appends its findings
  /// to the body as `<pre id="probe">`.
  static fs::path with_probe(const fs::path& page, const std::string& probe) {
    std::string html = read_file(page);
    const auto at = html.rfind("</body>");
    html.insert(at, "<script>\n" + probe + "\n</script>\n");
    fs::path copy = page;
    copy.replace_extension(".probe.html");
    std::ofstream(copy, std::ios::binary) << html;
    return copy;
  }
};

history etcd_000() {
  std::ifstream in(DSTM_JEPSEN_ETCD_000, std::ios::binary);
  return read_history(in);
}

TEST_F(html_browser, linearizability_page_draws_every_operation_and_the_blame) {
  const history h = etcd_000();
  const linearizability_result r = check_linearizable(h);
  ASSERT_EQ(r.result, verdict::invalid);  // Porcupine: not linearizable
  const key_report& k = r.keys.front();
  const std::size_t ops = page_data(html_timeline(h, r))["ops"].size();
  const fs::path page =
      save("linearizability.html", html_timeline(h, r, {.source = "etcd_000.jsonl"}));

  const std::string d = dom(page);
  EXPECT_NE(d.find("data-rendered=\"" + std::to_string(ops) + "\""), std::string::npos);
  EXPECT_EQ(count(d, " data-op=\""), ops);
  EXPECT_EQ(count(d, " data-blamed=\"1\""), 1u);
  EXPECT_EQ(count(d, " data-candidate=\"1\""), k.candidates.size() - 1);
  EXPECT_EQ(count(d, " data-prefix=\""), k.order.size());
  const std::string returns = std::to_string(
      std::find_if(h.begin() + static_cast<std::ptrdiff_t>(*k.blocked) + 1, h.end(),
                   [&](const event& e) { return e.process == h[*k.blocked].process; }) -
      h.begin() + 1);
  EXPECT_NE(d.find("data-boundary=\"" + returns + "\""), std::string::npos) << returns;
  // One lane label per process.
  EXPECT_NE(d.find(">process 21<"), std::string::npos);
  screenshot(page);
}

TEST_F(html_browser, hovering_and_clicking_a_bar_shows_what_it_is) {
  const history h = etcd_000();
  const fs::path page =
      save("linearizability-probe-source.html", lin_page(h, {.source = "etcd_000.jsonl"}));
  const fs::path probe = with_probe(page, R"js(
    var out = [];
    var bar = document.querySelector('g.op[data-blamed] rect.bar');
    var box = bar.getBoundingClientRect();
    bar.dispatchEvent(new MouseEvent('mousemove',
        { bubbles: true, clientX: box.left + 2, clientY: box.top + 2 }));
    var tip = document.getElementById('tip');
    out.push('tip-hidden=' + tip.hidden);
    out.push('tip=' + tip.textContent);
    bar.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    out.push('pinned=' + document.getElementById('pinned').textContent);
    out.push('pinned-bars=' + document.querySelectorAll('g.op.pinned').length);
    var before = document.querySelectorAll('g.op').length;
    document.getElementById('zoom-in').click();
    document.getElementById('zoom-fit').click();
    out.push('bars-after-zoom=' + (document.querySelectorAll('g.op').length === before));
    var pre = document.createElement('pre');
    pre.id = 'probe';
    pre.textContent = out.join('\n');
    document.body.appendChild(pre);
  )js");
  const std::string d = dom(probe);
  const auto at = d.find("<pre id=\"probe\">");
  ASSERT_NE(at, std::string::npos) << "the probe did not run: a script error?";
  const std::string result = d.substr(at);
  EXPECT_NE(result.find("tip-hidden=false"), std::string::npos) << result;
  EXPECT_NE(result.find("tip=process 11, lines 85\u201386, ok\nread \u2192 2"), std::string::npos)
      << result;
  EXPECT_NE(result.find("BLAMED: must take effect before it returns on line 86"),
            std::string::npos);
  EXPECT_NE(result.find("pinned=process 11, lines 85\u201386"), std::string::npos);
  EXPECT_NE(result.find("pinned-bars=1"), std::string::npos);
  EXPECT_NE(result.find("bars-after-zoom=true"), std::string::npos);
}

TEST_F(html_browser, isolation_page_draws_the_cycle) {
  const std::string text = g_single_history();
  const transaction_history h = parse_transaction_history(text, workload::list_append);
  const isolation_result r = check_isolation(h, {.level = consistency_level::serializable});
  ASSERT_EQ(r.verdict, isolation_verdict::invalid);
  const fs::path page = save("isolation.html", html_timeline(h, r, {.source = "g-single.jsonl"}));
  const std::string d = dom(page);
  EXPECT_EQ(count(d, " data-op=\""), h.txns().size());
  EXPECT_EQ(count(d, " data-anomaly=\"1\""), 2u);
  EXPECT_EQ(count(d, " data-edge=\""), 2u);
  EXPECT_NE(d.find("class=\"edge k-rw\""), std::string::npos);
  EXPECT_NE(d.find("class=\"edge k-wr\""), std::string::npos);
  EXPECT_NE(d.find("class=\"example forbidden selected\""), std::string::npos);
  EXPECT_EQ(d.find("<b>k</b>"), std::string::npos) << "a key was not escaped";
  screenshot(page);

  // Hovering an edge tells why it exists.
  const fs::path probe = with_probe(page, R"js(
    var edge = document.querySelector('g.edge.k-rw path');
    var box = edge.getBoundingClientRect();
    edge.dispatchEvent(new MouseEvent('mousemove',
        { bubbles: true, clientX: box.left + 1, clientY: box.top + 1 }));
    var pre = document.createElement('pre');
    pre.id = 'probe';
    pre.textContent = document.getElementById('tip').textContent;
    document.body.appendChild(pre);
  )js");
  const std::string p = dom(probe);
  const auto at = p.find("<pre id=\"probe\">");
  ASSERT_NE(at, std::string::npos) << "the probe did not run: a script error?";
  EXPECT_NE(p.find("T4 \u2192 T3 (rw): T4 read x = [1], which did not include T3", at),
            std::string::npos)
      << p.substr(at);
}

TEST_F(html_browser, write_skew_page) {
  const fs::path page =
      save("isolation-g2.html",
           iso_page(g2_history(), consistency_level::serializable, {.source = "write-skew.jsonl"}));
  const std::string d = dom(page);
  EXPECT_EQ(count(d, " data-op=\""), 2u);
  EXPECT_EQ(count(d, " data-anomaly=\"1\""), 2u);
  EXPECT_EQ(count(d, "class=\"edge k-rw\""), 2u);
}

TEST_F(html_browser, a_ten_thousand_operation_history_opens) {
  const history h = long_history(10'000, 6'000);
  const fs::path page = save("linearizability-10k.html", lin_page(h, {.source = "10k.jsonl"}));
  const auto start = std::chrono::steady_clock::now();
  const std::string d = dom(page);
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(d.find("data-rendered=\"10000\""), std::string::npos);
  EXPECT_EQ(count(d, " data-op=\""), 10'000u);
  EXPECT_EQ(count(d, " data-blamed=\"1\""), 1u);
  EXPECT_LT(seconds, 60.0);
  std::printf("10,000 operations: %.0f KB of HTML, loaded and dumped in %.1f s\n",
              static_cast<double>(fs::file_size(page)) / 1024, seconds);
  screenshot(page);
}

}  // namespace
}  // namespace dstm::check::html_test
