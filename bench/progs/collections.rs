// collections.rs — the allocations of ordinary Rust: Vec, String, HashMap
// and BTreeMap growing, then dropped.
//
//   collections [ROUNDS [N]]     defaults 10 rounds, N = 100000
//
// Rust's default global allocator is the system one, so every Box, Vec and
// String buffer goes through malloc/realloc/free: growth of a Vec or String
// is a realloc. The HashMap is built with a fixed hasher state (not
// RandomState) so that the work is the same on every run. Deterministic;
// prints a checksum.
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::collections::hash_map::DefaultHasher;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

#[inline(never)]
fn make_name(rng: &mut Lcg, i: u32) -> String {
    let mut s = String::from("item-");
    s.push_str(&i.to_string());
    for _ in 0..rng.next() % 32 {
        s.push((b'a' + (rng.next() % 26) as u8) as char);
    }
    s
}

#[inline(never)]
fn one_round(rng: &mut Lcg, n: u32) -> u64 {
    let mut numbers: Vec<u32> = Vec::new();
    for _ in 0..n {
        numbers.push(rng.next() % 1000);
    }
    let mut names: Vec<String> = Vec::new();
    for i in 0..n {
        names.push(make_name(rng, i));
    }
    let mut index: HashMap<String, u64, BuildHasherDefault<DefaultHasher>> = HashMap::default();
    for (name, num) in names.iter().zip(numbers.iter()) {
        *index.entry(name.clone()).or_insert(0) += u64::from(*num);
    }
    let mut by_key: BTreeMap<u32, String> = BTreeMap::new();
    for i in 0..n {
        let key = rng.next() % (n * 2);
        by_key.insert(key, names[(i as usize) % names.len()].clone());
    }
    let mut sum: u64 = 0;
    for (k, v) in &index {
        sum = sum.wrapping_add(v.wrapping_mul(k.len() as u64));
    }
    for (k, v) in &by_key {
        sum = sum.wrapping_mul(31).wrapping_add(u64::from(*k) + v.len() as u64);
    }
    sum
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: u64 = args.get(1).map_or(10, |a| a.parse().expect("ROUNDS"));
    let n: u32 = args.get(2).map_or(100_000, |a| a.parse().expect("N"));
    let mut rng = Lcg(7);
    let mut sum: u64 = 0;
    for _ in 0..rounds {
        sum = sum.wrapping_mul(1_000_003).wrapping_add(one_round(&mut rng, n));
    }
    println!("collections: {} rounds of {}, checksum {}", rounds, n, sum);
}
