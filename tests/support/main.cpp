// SPDX-License-Identifier: MIT
// The doctest main of every test executable. Besides doctest's own result it reports skips to
// ctest: exit 77 (SKIP_RETURN_CODE in tests/CMakeLists.txt) when every test case that ran called
// yv9test::skip (the data it needs is absent), exit 1 when no test case ran at all (a filter that
// matches nothing must not pass silently).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "support.hpp"

namespace {

// Tells yv9test::have_data which suite the running case belongs to and counts skipped cases.
struct SkipListener : doctest::IReporter {
  explicit SkipListener(const doctest::ContextOptions&) {}
  void test_case_start(const doctest::TestCaseData& tc) override {
    auto& log = yv9test::detail::skip_log();
    log.suite = tc.m_test_suite ? tc.m_test_suite : "";
    log.case_skipped = false;
    ++log.cases_run;
  }
  void test_case_end(const doctest::CurrentTestCaseStats&) override {
    auto& log = yv9test::detail::skip_log();
    log.cases_skipped += log.case_skipped;
  }
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("yv9test_skips", 1, SkipListener);

}  // namespace

int main(int argc, char** argv) {
  doctest::Context ctx(argc, argv);
  const int failed = ctx.run();
  if (ctx.shouldExit() || failed) return failed;
  const auto& log = yv9test::detail::skip_log();
  if (log.cases_run == 0) {
    std::fprintf(stderr, "no test case ran: the -tc/-ts filters match nothing\n");
    return 1;
  }
  if (log.cases_skipped == log.cases_run) {
    std::fprintf(stderr, "all %d test cases skipped (exit 77: ctest reports Skipped)\n", log.cases_run);
    return 77;
  }
  return 0;
}
