#include "util/symbol_map.h"

#include <gtest/gtest.h>

namespace vireo {
namespace {

constexpr std::string_view kMap =
    "ffffffff81000000 T _text\n"
    "ffffffff81000100 t helper\n"
    "ffffffff81000200 D some_data\n"    // data: ignored
    "ffffffff81000300 W weak_fn\n"
    "bogus line\n"
    "zzzz T not_hex\n"
    "ffffffff81000050 T between\n";      // out of order: sorted on parse

TEST(SymbolMap, ParsesCodeSymbolsOnlyAndSorts) {
  auto m = SymbolMap::parse(kMap);
  EXPECT_EQ(m.size(), 4u);  // _text, between, helper, weak_fn
  auto s = m.lookup(0xffffffff81000060);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->name, "between");
  EXPECT_EQ(s->offset, 0x10u);
}

TEST(SymbolMap, LookupBoundaries) {
  auto m = SymbolMap::parse(kMap);
  EXPECT_FALSE(m.lookup(0xffffffff80ffffff)) << "below the first symbol";
  EXPECT_EQ(m.lookup(0xffffffff81000000)->name, "_text");
  EXPECT_EQ(m.lookup(0xffffffff81000100)->name, "helper");
  // Data symbols do not end a function: 0x...250 is still in helper.
  EXPECT_EQ(m.lookup(0xffffffff81000250)->name, "helper");
  EXPECT_EQ(m.lookup(0xffffffff81000300 + (1u << 20))->name, "weak_fn");
  EXPECT_FALSE(m.lookup(0xffffffff81000301 + (1u << 20))) << "more than 1 MiB past the last";
}

TEST(SymbolMap, LoadErrorsNameTheFile) {
  auto r = SymbolMap::load("/nonexistent/System.map");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("/nonexistent/System.map"), std::string::npos);
}

}  // namespace
}  // namespace vireo
