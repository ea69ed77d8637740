/*
 * test_demangle.c - readable names for C++ (Itanium ABI) and Rust (legacy and v0) symbols, as
 * c++filt and rustfilt print them; everything else (C names, malformed or oversized input, a
 * buffer too small) is declined rather than half-printed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "demangle.h"

static const char *dm(const char *in)
{
    static char buf[1024];
    return hs_demangle(in, buf, sizeof buf) ? buf : NULL;
}

Test(demangle, cxx)
{
    cr_assert_str_eq(dm("_ZN7hs_test4pool5ArenaINS_6WidgetEE4growEm"),
                     "hs_test::pool::Arena<hs_test::Widget>::grow(unsigned long)");
    cr_assert_str_eq(dm("_Znwm"), "operator new(unsigned long)");
    cr_assert_str_eq(dm("_ZNSt6vectorIiSaIiEE9push_backEOi"),
                     "std::vector<int, std::allocator<int> >::push_back(int&&)");
    cr_assert_str_eq(dm("_ZN7hs_test4pool11build_nodesIiEEPNS0_4NodeIT_EEi"),
                     "hs_test::pool::Node<int>* hs_test::pool::build_nodes<int>(int)");
    /* GCC's clones keep their suffix, readably. */
    cr_assert_str_eq(dm("_Z3fooi.cold"), "foo(int) [clone .cold]");
}

Test(demangle, rust_legacy_drops_the_hash)
{
    cr_assert_str_eq(dm("_ZN4core3fmt5write17h0123456789abcdefE"), "core::fmt::write");
    cr_assert_str_eq(dm("_ZN3std2rt10lang_start17h1a2b3c4d5e6f7a8bE"), "std::rt::lang_start");
}

Test(demangle, rust_v0)
{
    cr_assert_str_eq(dm("_RNvCs15kBYyAo9fc_7mycrate7example"), "mycrate::example");
    cr_assert_str_eq(dm("_RNvNtCs1234_7mycrate3foo3bar"), "mycrate::foo::bar");
    cr_assert_str_eq(dm("_RINvCs1234_3std4swapNtNtCs5678_4core3any3AnyEB2_"),
                     "std::swap::<core::any::Any>");
}

Test(demangle, declines_what_is_not_mangled)
{
    cr_assert_null(dm("main"));
    cr_assert_null(dm("_start"));
    cr_assert_null(dm("_Z"));
    cr_assert_null(dm("_Zinvalid!"));
    cr_assert_null(dm("_R"));
    cr_assert_null(dm(""));
    cr_assert_null(dm(NULL));
    char buf[8];
    cr_assert_eq(hs_demangle("_Znwm", buf, sizeof buf), 0, "does not fit: declined");
    cr_assert_eq(hs_demangle("_Znwm", NULL, 64), 0);
}

Test(demangle, oversized_input_is_declined)
{
    /* A long valid nested name demangles; past the input limit it is declined unread. */
    static char name[HS_DEMANGLE_MAX_INPUT + 64];
    static char out[4 * HS_DEMANGLE_MAX_INPUT];
    size_t len = 0;
    len += (size_t)sprintf(name, "_ZN");
    while (len < 400)
        len += (size_t)sprintf(name + len, "3abc");
    strcpy(name + len, "3endEv");
    cr_assert_eq(hs_demangle(name, out, sizeof out), 1);
    cr_assert(strstr(out, "abc::abc::") != NULL);
    memset(name, 0, sizeof name);
    len = (size_t)sprintf(name, "_ZN");
    while (len < HS_DEMANGLE_MAX_INPUT + 8)
        len += (size_t)sprintf(name + len, "3abc");
    strcpy(name + len, "3endEv");
    cr_assert_eq(hs_demangle(name, out, sizeof out), 0);
}
