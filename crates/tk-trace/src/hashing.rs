//! The writer's running SHA-256 of the trace bytes, moved to a thread of its own once frames
//! grow large, so that hashing overlaps the runtime's next ops.
//!
//! Bytes are hashed in the order they are given whatever the mode, so the digest never
//! depends on it. Once on the thread, frames below [`BATCH_BYTES`] are copied into a batch
//! that travels as one job, so that small frames do not each cost a thread wake-up. At most
//! [`QUEUE`] jobs wait for the hashing thread (the writer then blocks), which bounds the
//! extra memory to a few frames.

use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// Frames of at least this many bytes move hashing to its thread.
const BACKGROUND_BYTES: usize = 1 << 16;

/// Once on the thread, frames shorter than this are batched, and a batch is sent when it
/// reaches this size.
const BATCH_BYTES: usize = 1 << 16;

/// Jobs queued for the hashing thread at most.
const QUEUE: usize = 2;

/// A SHA-256 over every byte given, in order.
pub(crate) enum Hashing {
    /// Hashed on the caller's thread.
    Inline(Sha256),
    /// Hashed on a thread: buffers go there and come back empty for reuse.
    Background(Box<Worker>),
    /// Transient state while switching modes.
    Switching,
}

/// The hashing thread and the writer's side of its queues.
pub(crate) struct Worker {
    jobs: SyncSender<Vec<u8>>,
    spare: Receiver<Vec<u8>>,
    thread: JoinHandle<Sha256>,
    /// Small frames not sent yet, in order.
    batch: Vec<u8>,
}

impl Worker {
    /// Sends `job` to the thread; returns an empty buffer for reuse (one the thread is done
    /// with, or a new one). A failed send means the thread is gone, which `finish` reports.
    fn send(&mut self, job: Vec<u8>) -> Vec<u8> {
        match self.jobs.send(job) {
            Ok(()) => self.spare.try_recv().unwrap_or_default(),
            Err(failed) => {
                let mut buf = failed.0;
                buf.clear();
                buf
            }
        }
    }

    /// Sends the batch, if any.
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.batch = self.send(batch);
        }
    }
}

impl Hashing {
    /// Continues from a hasher that has already taken some bytes (a plan's header).
    pub(crate) fn resume(hasher: Sha256) -> Hashing {
        Hashing::Inline(hasher)
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
            Hashing::Background(worker) if buf.len() < BATCH_BYTES => {
                worker.batch.extend_from_slice(&buf);
                if worker.batch.len() >= BATCH_BYTES {
                    worker.flush();
                }
                buf.clear();
                buf
            }
            Hashing::Background(worker) => {
                worker.flush();
                worker.send(buf)
            }
            Hashing::Switching => {
                buf.clear();
                buf
            }
        }
    }

    fn start_thread(&mut self) {
        let Hashing::Inline(hasher) = std::mem::replace(self, Hashing::Switching) else {
            return;
        };
        let (jobs, queue) = sync_channel::<Vec<u8>>(QUEUE);
        let (give_back, spare) = channel();
        // The thread starts with a copy of the state, so that if it cannot be spawned the
        // hashing simply stays inline.
        let mut state = hasher.clone();
        let spawned = std::thread::Builder::new()
            .name("tk-trace-sha256".into())
            .spawn(move || {
                for mut buf in queue {
                    state.update(&buf);
                    buf.clear();
                    // The writer may be gone already; the buffer is then dropped.
                    let _ = give_back.send(buf);
                }
                state
            });
        let Ok(thread) = spawned else {
            *self = Hashing::Inline(hasher);
            return;
        };
        *self = Hashing::Background(Box::new(Worker {
            jobs,
            spare,
            thread,
            batch: Vec::new(),
        }));
    }

    /// The digest of everything given, or `None` when the hashing thread died.
    pub(crate) fn finish(self) -> Option<[u8; 32]> {
        let hasher = match self {
            Hashing::Inline(h) => h,
            Hashing::Background(mut worker) => {
                worker.flush();
                let Worker { jobs, thread, .. } = *worker;
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
        let frames: Vec<Vec<u8>> = [
            10,
            3000,
            BACKGROUND_BYTES + 7,
            5,
            BATCH_BYTES - 1,
            BATCH_BYTES * 2,
            7,
            BATCH_BYTES / 2,
            BATCH_BYTES / 2 + 1,
            1,
        ]
        .iter()
        .enumerate()
        .map(|(i, &len)| (0..len).map(|j| (i * 31 + j * 7) as u8).collect())
        .collect();
        let mut hashing = Hashing::resume(Sha256::new_with_prefix(b"TKTRACE\0"));
        let mut plain = Sha256::new();
        plain.update(b"TKTRACE\0");
        for frame in &frames {
            plain.update(frame);
            let back = hashing.update(frame.clone());
            assert!(back.is_empty());
        }
        assert!(matches!(hashing, Hashing::Background(_)));
        let want: [u8; 32] = plain.finalize().into();
        assert_eq!(hashing.finish(), Some(want));
        // All inline.
        let mut hashing = Hashing::resume(Sha256::new_with_prefix(b"abc"));
        let _ = hashing.update(vec![1, 2, 3]);
        assert!(matches!(hashing, Hashing::Inline(_)));
        let want: [u8; 32] = Sha256::digest([b'a', b'b', b'c', 1, 2, 3]).into();
        assert_eq!(hashing.finish(), Some(want));
    }
}
