/*
 * templates.cpp - C++ frames for the demangling and inline-frame tests: templates, nested
 * namespaces, a class method, and an allocation helper that is always inlined into its caller
 * (built with -O2 -g, so the DWARF describes the inlined instance). Lines that allocate carry a
 * marker comment ("SITE:<name>") that the driver looks up in this file.
 *
 *   main -> hs_test::pool::Arena<hs_test::Widget>::grow(unsigned long)        (not inlined)
 *             -> hs_test::pool::Arena<hs_test::Widget>::make_block(unsigned long) (inlined)
 *                  -> malloc
 *        -> hs_test::pool::build_nodes<int>(int)                              (not inlined)
 *             -> operator new (libstdc++)
 *
 * Every block stays allocated until exit.
 */
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

namespace hs_test
{

struct Widget {
    char payload[100];
};

namespace pool
{

template <typename T> class Arena
{
  public:
    __attribute__((noinline)) void grow(unsigned long count);

  private:
    /* The inlined allocation helper. */
    __attribute__((always_inline)) inline T *make_block(unsigned long count)
    {
        void *p = std::malloc(sizeof(T) * count); /* SITE:make_block */
        if (!p)
            std::abort();
        return static_cast<T *>(p);
    }
    std::vector<T *> blocks_;
};

template <typename T> void Arena<T>::grow(unsigned long count)
{
    for (int i = 0; i < 32; i++)
        blocks_.push_back(make_block(count)); /* SITE:grow_calls_make_block */
}

template <typename T> struct Node {
    T value;
    Node *next;
    char pad[400];
};

template <typename T> __attribute__((noinline)) Node<T> *build_nodes(int n)
{
    Node<T> *head = nullptr;
    for (int i = 0; i < n; i++) {
        Node<T> *node = new Node<T>; /* SITE:build_nodes */
        node->value = static_cast<T>(i);
        node->next = head;
        head = node;
    }
    return head;
}

} // namespace pool
} // namespace hs_test

static hs_test::pool::Arena<hs_test::Widget> *volatile arena_keep;
static void *volatile nodes_keep;

int main()
{
    auto *arena = new hs_test::pool::Arena<hs_test::Widget>;
    arena->grow(30); /* 32 x 3000 bytes */
    arena_keep = arena;
    nodes_keep = hs_test::pool::build_nodes<int>(48);
    std::printf("done\n");
    return 0;
}
