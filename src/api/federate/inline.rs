//! The body of a small federate answer rendered on the HTTP worker: one buffer taken from a
//! small process-wide pool, sent with `Content-Length` in slices the HTTP layer copies without
//! growing its own write buffer past what it keeps between requests.
//!
//! Why (docs/benchmarks.md, "Small federates"): a 2,000-series answer is ~330 kB. Built as
//! one fresh `Vec` it crossed glibc's mmap threshold (128 KiB, pinned in `crate::alloc`), so
//! every request mapped new pages, faulted each one in while copying, and unmapped them; the
//! HTTP layer then copied the whole body into a second fresh write buffer of the same size
//! (its retention limit is 128 KiB), faulting again. Page faults and `munmap` were about a
//! third of the server's CPU per request. A pooled buffer is faulted in once; slices of
//! [`SLICE_BYTES`] keep the HTTP layer's write buffer under its retention limit, so it too is
//! reused rather than mapped per response.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;

/// Bytes handed to the HTTP layer per poll: over its flush size (32 KiB) so each poll ends
/// in one `write`, and small enough that its write buffer stays under its 128 KiB retention
/// limit.
pub const SLICE_BYTES: usize = 64 * 1024;
/// Buffers kept for reuse: one per concurrently answered small federate is enough; more
/// requests at once simply allocate.
const POOL_BUFFERS: usize = 4;
/// Buffers that grew past this are not kept (an inline answer of 2,048 series with long
/// label sets; keeping it would pin its memory for a rare request).
const POOL_MAX_CAPACITY: usize = 1 << 20;
/// Initial capacity of a new buffer: a typical 2,000-series answer without growth.
const INITIAL_CAPACITY: usize = 512 * 1024;

/// Reusable answer buffers.
pub struct BufferPool {
    bufs: Mutex<Vec<Vec<u8>>>,
}

/// The pool small federate answers use.
pub static POOL: BufferPool = BufferPool::new();

impl BufferPool {
    /// An empty pool.
    pub const fn new() -> Self {
        BufferPool {
            bufs: Mutex::new(Vec::new()),
        }
    }

    /// An empty buffer, from the pool when one is free.
    pub fn take(&'static self) -> PooledBuf {
        let pooled = self.bufs.lock().ok().and_then(|mut p| p.pop());
        PooledBuf {
            buf: pooled.unwrap_or_else(|| Vec::with_capacity(INITIAL_CAPACITY)),
            pool: self,
        }
    }

    fn put(&self, mut buf: Vec<u8>) {
        if buf.capacity() > POOL_MAX_CAPACITY {
            return;
        }
        buf.clear();
        if let Ok(mut pool) = self.bufs.lock()
            && pool.len() < POOL_BUFFERS
        {
            pool.push(buf);
        }
    }
}

impl Default for BufferPool {
    fn default() -> Self {
        Self::new()
    }
}

/// A buffer that goes back to its pool when dropped (once its body's last slice is sent).
pub struct PooledBuf {
    /// The bytes; write the answer here.
    pub buf: Vec<u8>,
    pool: &'static BufferPool,
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}

/// A whole answer with a known length, sent in slices of [`SLICE_BYTES`].
pub struct InlineBody {
    bytes: Bytes,
}

impl InlineBody {
    /// Wraps a pooled buffer holding the complete body.
    pub fn new(buf: PooledBuf) -> Self {
        InlineBody {
            bytes: Bytes::from_owner(buf),
        }
    }

    /// The whole body (shares the buffer; tests and callers that want one piece).
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }
}

impl MessageBody for InlineBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.bytes.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.bytes.is_empty() {
            return Poll::Ready(None);
        }
        let n = this.bytes.len().min(SLICE_BYTES);
        Poll::Ready(Some(Ok(this.bytes.split_to(n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_body_in_order_and_the_buffer_returns() {
        let pool: &'static BufferPool = Box::leak(Box::new(BufferPool::new()));
        let mut buf = pool.take();
        let data: Vec<u8> = (0..(2 * SLICE_BYTES + 123)).map(|i| i as u8).collect();
        buf.buf.extend_from_slice(&data);
        let ptr = buf.buf.as_ptr();
        let mut body = InlineBody::new(buf);
        assert_eq!(body.size(), BodySize::Sized(data.len() as u64));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut slices = Vec::new();
        while let Poll::Ready(Some(Ok(b))) = Pin::new(&mut body).poll_next(&mut cx) {
            slices.push(b);
        }
        assert_eq!(slices.concat(), data);
        let sizes: Vec<usize> = slices.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [SLICE_BYTES, SLICE_BYTES, 123]);
        drop(body);
        assert_eq!(pool.bufs.lock().unwrap().len(), 0, "slices still in use");
        drop(slices);
        assert_eq!(
            pool.bufs.lock().unwrap().len(),
            1,
            "returned with the last slice"
        );
        let again = pool.take();
        assert_eq!(again.buf.as_ptr(), ptr, "the same allocation is reused");
        assert!(again.buf.is_empty());
        // A buffer that grew too large is not kept.
        let mut big = again;
        big.buf.reserve(POOL_MAX_CAPACITY + 1);
        drop(big);
        assert_eq!(pool.bufs.lock().unwrap().len(), 0);
    }
}
