//! The writer's running SHA-256 of the trace bytes, moved to a thread of its own once frames
//! grow large, so that hashing overlaps the runtime's next ops.
//!
//! Bytes are hashed in the order they are given whatever the mode, so the digest never
//! depends on it. At most [`QUEUE`] frames wait for the hashing thread (the writer then
//! blocks), which bounds the extra memory to a few frames.

use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// Frames of at least this many bytes move hashing to its thread.
const BACKGROUND_BYTES: usize = 1 << 18;

/// Frames queued for the hashing thread at most.
const QUEUE: usize = 2;

/// A SHA-256 over every byte given, in order.
pub(crate) enum Hashing {
    /// Hashed on the caller's thread.
    Inline(Sha256),
    /// Hashed on a thread: buffers go there and come back empty for reuse.
    Background {
        jobs: SyncSender<Vec<u8>>,
        spare: Receiver<Vec<u8>>,
        thread: JoinHandle<Sha256>,
    },
    /// Transient state while switching modes.
    Switching,
}

impl Hashing {
    pub(crate) fn new() -> Hashing {
        Hashing::Inline(Sha256::new())
    }

    /// Hashes `bytes` now (small writes: magic, version).
    pub(crate) fn update_now(&mut self, bytes: &[u8]) {
        match self {
            Hashing::Inline(h) => h.update(bytes),
            // Only used before any frame; a background hasher never receives slices.
            Hashing::Background { jobs, .. } => {
                let _ = jobs.send(bytes.to_vec());
            }
            Hashing::Switching => {}
        }
    }

    /// Hashes the frame `buf` and returns a cleared buffer for the next frame (the same one,
    /// or one the hashing thread has finished with).
    pub(crate) fn update(&mut self, mut buf: Vec<u8>) -> Vec<u8> {
        if let Hashing::Inline(_) = self
            && buf.len() >= BACKGROUND_BYTES
        {
            self.start_thread();
        }
        match self {
            Hashing::Inline(h) => {
                h.update(&buf);
                buf.clear();
                buf
            }
            Hashing::Background { jobs, spare, .. } => match jobs.send(buf) {
                Ok(()) => spare.try_recv().unwrap_or_default(),
                // The thread is gone (it cannot fail); `finish` reports it.
                Err(failed) => {
                    buf = failed.0;
                    buf.clear();
                    buf
                }
            },
            Hashing::Switching => {
                buf.clear();
                buf
            }
        }
    }

    fn start_thread(&mut self) {
        let Hashing::Inline(mut hasher) = std::mem::replace(self, Hashing::Switching) else {
            return;
        };
        let (jobs, queue) = sync_channel::<Vec<u8>>(QUEUE);
        let (give_back, spare) = channel();
        let thread = std::thread::spawn(move || {
            for mut buf in queue {
                hasher.update(&buf);
                buf.clear();
                // The writer may be gone already; the buffer is then dropped.
                let _ = give_back.send(buf);
            }
            hasher
        });
        *self = Hashing::Background {
            jobs,
            spare,
            thread,
        };
    }

    /// The digest of everything given, or `None` when the hashing thread died.
    pub(crate) fn finish(self) -> Option<[u8; 32]> {
        let hasher = match self {
            Hashing::Inline(h) => h,
            Hashing::Background { jobs, thread, .. } => {
                drop(jobs);
                thread.join().ok()?
            }
            Hashing::Switching => return None,
        };
        Some(hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_does_not_depend_on_where_bytes_are_hashed() {
        // Small frames inline, then a large one moves hashing to its thread, then more of
        // both sizes; buffers come back cleared.
        let frames: Vec<Vec<u8>> = [10, 3000, BACKGROUND_BYTES + 7, 5, BACKGROUND_BYTES * 2, 1]
            .iter()
            .enumerate()
            .map(|(i, &len)| (0..len).map(|j| (i * 31 + j * 7) as u8).collect())
            .collect();
        let mut hashing = Hashing::new();
        hashing.update_now(b"TKTRACE\0");
        let mut plain = Sha256::new();
        plain.update(b"TKTRACE\0");
        for frame in &frames {
            plain.update(frame);
            let back = hashing.update(frame.clone());
            assert!(back.is_empty());
        }
        assert!(matches!(hashing, Hashing::Background { .. }));
        let want: [u8; 32] = plain.finalize().into();
        assert_eq!(hashing.finish(), Some(want));
        // All inline.
        let mut hashing = Hashing::new();
        hashing.update_now(b"abc");
        let _ = hashing.update(vec![1, 2, 3]);
        assert!(matches!(hashing, Hashing::Inline(_)));
        let want: [u8; 32] = Sha256::digest([b'a', b'b', b'c', 1, 2, 3]).into();
        assert_eq!(hashing.finish(), Some(want));
    }
}
