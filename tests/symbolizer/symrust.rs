// symrust.rs — a Rust target for the symbolizer's integration cases: a Box
// leaked in a module function, a generic function, and a Vec grown one push at
// a time (tests/integration/symbolizer.sh). Rust's default allocator is
// libc's malloc, so the recorder sees every allocation.
mod shapes {
    #[allow(dead_code)]
    pub struct Widget {
        pub id: u64,
        pub pad: [u8; 56],
    }

    #[inline(never)]
    pub fn make_widget(id: u64) -> &'static mut Widget {
        Box::leak(Box::new(Widget { id, pad: [0; 56] })) // LINE:make_widget
    }

    #[inline(never)]
    pub fn make_vec<T: Clone>(v: T, n: usize) -> Vec<T> {
        vec![v; n] // LINE:make_vec
    }
}

#[inline(never)]
fn grow_vector() -> Vec<u32> {
    let mut v = Vec::new();
    for i in 0..100 {
        v.push(i); // LINE:push
    }
    v
}

fn main() {
    let w = shapes::make_widget(7);
    let a = shapes::make_vec(1.5f64, 10);
    let g = grow_vector();
    println!("{} {} {}", w.id, a.len(), g.len());
    std::mem::forget(a);
    std::mem::forget(g);
}
