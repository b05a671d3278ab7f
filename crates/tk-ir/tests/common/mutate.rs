//! Deterministic byte mutations in the style of libFuzzer's, for the stable-Rust replay of the
//! fuzz targets (`fuzz_replay.rs` here, in tk-quant's `hostile.rs` and in tk-trace): CI has no
//! nightly toolchain, so instead of `cargo fuzz` it runs each target's body on its seeds and on a
//! few thousand mutations of each, always the same for the same seed.
//!
//! Also included by path from tk-quant's and tk-trace's tests.
#![allow(dead_code)]

use std::path::Path;

/// Mutations per seed when `TK_FUZZ_REPLAY_ROUNDS` is not set.
pub const DEFAULT_ROUNDS: usize = 2000;

/// Mutations per seed: `TK_FUZZ_REPLAY_ROUNDS`, or `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("TK_FUZZ_REPLAY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The files of `dir` (sorted, at most `max`, each at most `max_bytes`), or none if it does
/// not exist: a local `fuzz/corpus/<target>/` is replayed as is when present.
pub fn files(dir: &Path, max: usize, max_bytes: u64) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.len() <= max_bytes)
        })
        .collect();
    paths.sort();
    paths.truncate(max);
    paths
        .into_iter()
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
        .collect()
}

/// Integers that often sit on a boundary of a length, count or dimension check.
const INTERESTING: [u64; 12] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 40,
    u64::MAX,
];

/// A seeded generator of mutations (splitmix64).
pub struct Mutator {
    state: u64,
}

impl Mutator {
    /// A generator for `name` (a seed's name) and `salt`.
    pub fn new(name: &str, salt: u64) -> Mutator {
        // FNV-1a of the name, so that each seed gets its own stream.
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Mutator { state: h }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `data` with one to four mutations applied; `others` are spliced in from time to time.
    pub fn mutate(&mut self, data: &[u8], others: &[&[u8]]) -> Vec<u8> {
        let mut b = data.to_vec();
        for _ in 0..1 + self.below(4) {
            self.mutate_once(&mut b, others);
        }
        b
    }

    fn mutate_once(&mut self, b: &mut Vec<u8>, others: &[&[u8]]) {
        if b.is_empty() {
            b.push(self.next() as u8);
            return;
        }
        let at = self.below(b.len());
        match self.below(10) {
            0 => b[at] ^= 1 << self.below(8),
            1 => b[at] = self.next() as u8,
            2 => b[at] = INTERESTING[self.below(5)] as u8,
            3 => b[at] = b[at].wrapping_add(self.below(33) as u8).wrapping_sub(16),
            4 => {
                // An interesting integer, little-endian, 2, 4 or 8 bytes wide.
                let v = INTERESTING[self.below(INTERESTING.len())].to_le_bytes();
                let width = [2, 4, 8][self.below(3)];
                for (i, &x) in v.iter().take(width).enumerate() {
                    if let Some(slot) = b.get_mut(at + i) {
                        *slot = x;
                    }
                }
            }
            5 => {
                let n = 1 + self.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
                b.splice(at..at, bytes);
            }
            6 => {
                let end = (at + 1 + self.below(16)).min(b.len());
                b.drain(at..end);
            }
            7 => {
                // Duplicate a chunk somewhere else.
                let end = (at + 1 + self.below(32)).min(b.len());
                let chunk = b[at..end].to_vec();
                let to = self.below(b.len() + 1);
                b.splice(to..to, chunk);
            }
            8 => b.truncate(at),
            _ => {
                // Splice: our prefix, another seed's suffix.
                if let Some(other) = others.get(self.below(others.len().max(1))) {
                    let from = self.below(other.len().max(1)).min(other.len());
                    b.truncate(at);
                    b.extend_from_slice(&other[from..]);
                }
            }
        }
    }
}
