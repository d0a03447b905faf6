// containers.cpp — the allocations of ordinary C++: containers that grow.
//
//   containers [ROUNDS [N]]     defaults 10 rounds, N = 100000
//
// Each round: a std::vector<int> grown by push_back (reallocation by
// doubling), N std::string values built by appending (heap once past the
// small-string buffer), a std::unordered_map<std::string, int> that rehashes
// as it grows, and a std::map<int, std::string> (one node per insert), then
// everything is destroyed. About 4.5 million operator new calls with the
// defaults, and as many deletes, all through malloc/free. Deterministic;
// prints a checksum.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

std::uint64_t lcg_state = 7;

std::uint32_t lcg_next()
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(lcg_state >> 33);
}

// A string of 8 to 40 characters, built piece by piece so that it grows.
__attribute__((noinline)) std::string make_name(std::uint32_t i)
{
    std::string s = "item-";
    s += std::to_string(i);
    std::uint32_t extra = lcg_next() % 32;
    for (std::uint32_t k = 0; k < extra; k++)
        s += static_cast<char>('a' + (lcg_next() % 26));
    return s;
}

__attribute__((noinline)) std::uint64_t one_round(std::uint32_t n)
{
    std::uint64_t sum = 0;

    std::vector<int> numbers;
    for (std::uint32_t i = 0; i < n; i++)
        numbers.push_back(static_cast<int>(lcg_next() % 1000));

    std::vector<std::string> names;
    for (std::uint32_t i = 0; i < n; i++)
        names.push_back(make_name(i));

    std::unordered_map<std::string, int> index;
    for (std::uint32_t i = 0; i < n; i++)
        index[names[i]] += numbers[i];

    std::map<int, std::string> by_key;
    for (std::uint32_t i = 0; i < n; i++) {
        int key = static_cast<int>(lcg_next() % (n * 2));
        by_key[key] = names[i % names.size()];
    }

    for (const auto &kv : index)
        sum += static_cast<std::uint64_t>(kv.second) * kv.first.size();
    for (const auto &kv : by_key)
        sum = sum * 31 + static_cast<std::uint64_t>(kv.first) + kv.second.size();
    return sum;
}

} // namespace

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? std::atol(argv[1]) : 10;
    long n = argc > 2 ? std::atol(argv[2]) : 100000;
    if (rounds < 0 || n < 1 || n > 100000000) {
        std::fprintf(stderr, "usage: containers [ROUNDS [N]]\n");
        return 2;
    }
    std::uint64_t sum = 0;
    for (long r = 0; r < rounds; r++)
        sum = sum * 1000003 + one_round(static_cast<std::uint32_t>(n));
    std::printf("containers: %ld rounds of %ld, checksum %llu\n", rounds, n,
                static_cast<unsigned long long>(sum));
    return 0;
}
