// symcxx.cpp — a C++ target for the symbolizer's integration cases: leaks
// through operator new in a namespaced member function, a template and a
// std::vector that grows (tests/integration/symbolizer.sh).
#include <cstddef>
#include <string>
#include <vector>

namespace shapes {
struct Widget {
    int id;
    char pad[60];
    static Widget *make(int id);
};

__attribute__((noipa)) Widget *Widget::make(int id)
{
    Widget *w = new Widget(); // LINE:make
    w->id = id;
    return w;
}

template <typename T> __attribute__((noipa)) T *make_array(std::size_t n)
{
    return new T[n]; // LINE:make_array
}
} // namespace shapes

std::vector<int> *volatile kept_vec;
void *volatile kept[4];

__attribute__((noipa)) void grow_vector()
{
    auto *v = new std::vector<int>(); // LINE:grow_vector_new
    for (int i = 0; i < 100; i++)
        v->push_back(i); // LINE:push_back
    kept_vec = v;
}

int main()
{
    kept[0] = shapes::Widget::make(1);
    kept[1] = shapes::make_array<double>(10);
    grow_vector();
    return 0;
}
