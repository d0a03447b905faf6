/* cxx_new.cpp — every form of C++ operator new and delete, recorded through
 * the libc functions libstdc++ calls, plus a static object whose destructor
 * allocates after main (before the recorder's own destructor, which runs
 * later, from ld.so's _dl_fini).
 *
 * libstdc++ (GCC 12): new / new[] / nothrow forms call malloc(n); the aligned
 * forms (align_val_t) call aligned_alloc(al, n rounded up to a multiple of al),
 * which is what the trace records as the requested size; every delete form
 * calls free.
 *   new int                    malloc(4)     delete (sized: 4)
 *   new int[10]                malloc(40)    delete[] (sized: 40 — an int
 *                                            array has no cookie)
 *   new (nothrow) char[100]    malloc(100)   delete[]
 *   new (nothrow) long         malloc(8)     delete
 *   new Big (alignas 64, 100)  aligned_alloc(64, 128)  delete (sized, aligned)
 *   new Big[3] (300 + 8 cookie: Big has a destructor) aligned_alloc(64, 320) delete[]
 *   operator new(50, align_val_t(32), nothrow)  aligned_alloc(32, 64)
 *                              operator delete(p, align_val_t(32), nothrow)
 *   leak: new char[777]        malloc(777), never deleted (site leak_array)
 * static Holder: constructor new char[60]; destructor delete[] it and does
 *   new char[70] / delete[] (after main).
 * The program's own: allocations 10, frees 9, bytes 4 + 40 + 100 + 8 + 128 +
 *   320 + 64 + 777 + 60 + 70 = 1571, leaked 777 in 1 block (leak_array).
 * libstdc++'s own: its emergency exception pool, allocated before main
 *   (eh_alloc.cc, 73728 bytes in GCC 12): shown by the report apart, as
 *   held by the C runtime; not counted above. */
#include <cstddef>
#include <new>

struct alignas(64) Big {
    char bytes[100];
    ~Big() { bytes[0] = 0; }
};

static void *volatile sink;

struct Holder {
    char *block;
    Holder() : block(new char[60]) {}
    ~Holder()
    {
        delete[] block;
        char *late = new char[70];
        sink = late;
        delete[] late;
    }
};

static Holder holder;

__attribute__((noinline)) static void leak_array()
{
    sink = new char[777];
}

int main()
{
    int *a = new int;
    sink = a;
    delete a;
    int *b = new int[10];
    sink = b;
    delete[] b;
    char *c = new (std::nothrow) char[100];
    sink = c;
    delete[] c;
    long *d = new (std::nothrow) long;
    sink = d;
    delete d;
    Big *e = new Big;
    sink = e;
    delete e;
    Big *f = new Big[3];
    sink = f;
    delete[] f;
    void *g = operator new(50, std::align_val_t(32), std::nothrow);
    sink = g;
    operator delete(g, std::align_val_t(32), std::nothrow);
    leak_array();
    return sink == nullptr;
}
