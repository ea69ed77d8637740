// cxx_stl.cpp - a C++ program that uses the standard library heavily, for the real-programs
// torture: containers (map, unordered_map, vector, deque, list, set, string), shared and unique
// pointers, std::function, iostreams and stringstreams, std::regex, std::sort, exceptions thrown
// across threads (std::exception_ptr, futures), std::async, a thread pool with a mutex and a
// condition variable, over-aligned new (operator new with std::align_val_t reaches
// aligned_alloc or posix_memalign), nothrow new of an impossible size and std::bad_alloc.
//
//   cxx_stl [ROUNDS]
//
// Prints checksums that depend only on ROUNDS.
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <iostream>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <queue>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

uint64_t hash_str(const std::string &s)
{
    return std::accumulate(s.begin(), s.end(), uint64_t{1469598103934665603ull},
                           [](uint64_t h, char c) { return (h ^ uint8_t(c)) * 1099511628211ull; });
}

struct alignas(128) Wide {
    double v[16];
};

struct Node {
    std::string name;
    std::vector<std::shared_ptr<Node>> children;
    std::map<std::string, int> attrs;
};

std::shared_ptr<Node> build_tree(int depth, int width, int &counter)
{
    auto n = std::make_shared<Node>();
    n->name = "node" + std::to_string(counter++);
    n->attrs["depth"] = depth;
    n->attrs["id"] = counter;
    if (depth > 0)
        for (int i = 0; i < width; i++)
            n->children.push_back(build_tree(depth - 1, width, counter));
    return n;
}

uint64_t walk(const std::shared_ptr<Node> &n)
{
    uint64_t h = hash_str(n->name);
    for (auto &kv : n->attrs)
        h = mix(h, hash_str(kv.first) + uint64_t(kv.second));
    for (auto &c : n->children)
        h = mix(h, walk(c));
    return h;
}

uint64_t containers(int round)
{
    std::unordered_map<std::string, std::vector<int>> index;
    std::map<int, std::string> ordered;
    std::deque<std::string> dq;
    std::list<std::unique_ptr<std::string>> lst;
    std::set<std::string> seen;
    for (int i = 0; i < 3000; i++) {
        std::string key = "k" + std::to_string((i * 7919 + round) % 1000);
        index[key].push_back(i);
        ordered.emplace(i, std::string(size_t(i % 97), char('a' + i % 26)));
        dq.push_front(key);
        if (dq.size() > 100)
            dq.pop_back();
        lst.push_back(std::make_unique<std::string>(key + "/" + std::to_string(i)));
        if (lst.size() > 50)
            lst.pop_front();
        seen.insert(key);
    }
    std::vector<std::string> keys(seen.begin(), seen.end());
    std::sort(keys.begin(), keys.end(), [](const std::string &a, const std::string &b) {
        return a.size() != b.size() ? a.size() < b.size() : a > b;
    });
    uint64_t h = keys.size();
    for (auto &k : keys)
        h = mix(h, hash_str(k) + index[k].size());
    for (auto &kv : ordered)
        h = mix(h, uint64_t(kv.first) * kv.second.size());
    for (auto &s : dq)
        h = mix(h, hash_str(s));
    for (auto &p : lst)
        h = mix(h, hash_str(*p));
    return h;
}

uint64_t text(int round)
{
    std::ostringstream out;
    for (int i = 0; i < 500; i++)
        out << "item-" << i << " = " << (i * round) % 1013 << "; ";
    std::string s = out.str();
    std::regex re("item-([0-9]+) = ([0-9]+);");
    uint64_t h = 0;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
        h = mix(h, std::stoull((*it)[1].str()) * 31 + std::stoull((*it)[2].str()));
    std::istringstream in(s);
    std::string word;
    while (in >> word)
        h = mix(h, word.size());
    return h;
}

uint64_t exceptions(int round)
{
    uint64_t h = 0;
    std::vector<std::future<int>> futures;
    for (int i = 0; i < 8; i++)
        futures.push_back(std::async(std::launch::async, [i, round] {
            std::vector<std::string> junk(size_t(100 + i), std::string(50, 'x'));
            if ((i + round) % 3 == 0)
                throw std::runtime_error("task " + std::to_string(i) + " failed");
            return int(junk.size());
        }));
    for (auto &f : futures) {
        try {
            h = mix(h, uint64_t(f.get()));
        } catch (const std::exception &e) {
            h = mix(h, hash_str(e.what()));
        }
    }
    try {
        std::vector<int> v;
        v.reserve(v.max_size() + 1);
    } catch (const std::length_error &) {
        h = mix(h, 1);
    }
    volatile size_t impossible = size_t(1) << 62; // not a constant: the compiler cannot refuse it
    try {
        auto *p = new char[impossible];
        delete[] p;
    } catch (const std::bad_alloc &) {
        h = mix(h, 2);
    }
    char *q = new (std::nothrow) char[impossible];
    h = mix(h, q == nullptr ? 3 : 4);
    delete[] q;
    return h;
}

uint64_t aligned(int round)
{
    std::vector<Wide> v(size_t(50 + round % 7));
    uint64_t h = 0;
    for (auto &w : v) {
        h = mix(h, (reinterpret_cast<uintptr_t>(&w) % alignof(Wide)) == 0);
        w.v[0] = double(round);
    }
    auto p = std::make_unique<Wide[]>(9);
    h = mix(h, (reinterpret_cast<uintptr_t>(p.get()) % alignof(Wide)) == 0);
    return h;
}

class Pool {
  public:
    explicit Pool(int n)
    {
        for (int i = 0; i < n; i++)
            workers_.emplace_back([this] { run(); });
    }
    ~Pool()
    {
        {
            std::lock_guard<std::mutex> g(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto &t : workers_)
            t.join();
    }
    void submit(std::function<void()> f)
    {
        {
            std::lock_guard<std::mutex> g(mu_);
            q_.push(std::move(f));
        }
        cv_.notify_one();
    }

  private:
    void run()
    {
        for (;;) {
            std::function<void()> f;
            {
                std::unique_lock<std::mutex> l(mu_);
                cv_.wait(l, [this] { return stop_ || !q_.empty(); });
                if (q_.empty())
                    return;
                f = std::move(q_.front());
                q_.pop();
            }
            f();
        }
    }
    std::vector<std::thread> workers_;
    std::queue<std::function<void()>> q_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
};

} // namespace

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? std::atoi(argv[1]) : 20;
    std::vector<uint64_t> results(size_t(rounds) * 4, 0);
    {
        Pool pool(4);
        for (int r = 0; r < rounds; r++) {
            pool.submit([&results, r] { results[size_t(r) * 4] = containers(r); });
            pool.submit([&results, r] { results[size_t(r) * 4 + 1] = text(r); });
            pool.submit([&results, r] { results[size_t(r) * 4 + 2] = exceptions(r); });
            pool.submit([&results, r] {
                int counter = 0;
                results[size_t(r) * 4 + 3] = mix(aligned(r), walk(build_tree(4, 4, counter)));
            });
        }
    }
    for (int r = 0; r < rounds; r++)
        std::cout << "round " << r << ": " << std::hex << results[size_t(r) * 4] << " "
                  << results[size_t(r) * 4 + 1] << " " << results[size_t(r) * 4 + 2] << " "
                  << results[size_t(r) * 4 + 3] << std::dec << "\n";
    return 0;
}
