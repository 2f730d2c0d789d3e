//! Reading frames from a byte stream.

use backchannel_proto::Rejection;
use backchannel_proto::frame::{FrameHeader, HEADER_LEN, MAX_FRAME_LEN};
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Why reading frames stopped.
#[derive(Debug, thiserror::Error)]
pub enum FrameIoError {
    /// The transport failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent a header that is not a valid frame header (bad magic, version,
    /// flags or an oversize length). The stream cannot be resynchronised after this.
    #[error("invalid frame: {0}")]
    Frame(Rejection),
    /// The stream ended in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
}

/// Splits a byte stream into frames, validating each 12-byte header before reading
/// its body, so a peer can never make it buffer more than one maximal frame.
///
/// Reads in chunks and hands out every complete frame a chunk holds at once, so a
/// busy connection is processed in batches (one batch signature verification, one
/// receipt) rather than frame by frame.
///
/// The chunk adapts: a read that fills it doubles the next one, up to [`MAX_CHUNK`]
/// (bigger batches: per signature, one batch verification of 150 costs less than
/// three of 50), and a read that fills less than half of it (the peer has caught up)
/// sets the next back to [`MIN_CHUNK`]; a connection whose buffer is empty and whose
/// chunk is back at the minimum gives the extra memory back, so a broker with a
/// thousand quiet connections holds 16 KiB for each, not 64.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    chunk: usize,
}

/// The first read, and the read of a connection that is not busy.
pub const MIN_CHUNK: usize = 16 * 1024;
/// The largest read (`proto-spec/nodes.md` §3.2: what a session holds at most is one
/// such read plus one frame).
pub const MAX_CHUNK: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a stream.
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: Vec::with_capacity(MIN_CHUNK),
            start: 0,
            chunk: MIN_CHUNK,
        }
    }

    /// The wrapped stream (to write on a full-duplex one).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Waits for at least one complete frame, then moves up to `max` complete frames
    /// into `out`. Returns `Ok(false)` when the stream ended cleanly between frames.
    pub async fn read_batch(
        &mut self,
        out: &mut Vec<Vec<u8>>,
        max: usize,
    ) -> Result<bool, FrameIoError> {
        let before = out.len();
        loop {
            while out.len() - before < max.max(1) {
                match self.next_buffered()? {
                    Some(frame) => out.push(frame),
                    None => break,
                }
            }
            if out.len() > before {
                return Ok(true);
            }
            self.compact();
            if self.buf.is_empty() && self.chunk == MIN_CHUNK {
                self.buf.shrink_to(MIN_CHUNK);
            }
            self.buf.reserve(self.chunk);
            let n = (&mut self.inner)
                .take(self.chunk as u64)
                .read_buf(&mut self.buf)
                .await?;
            self.chunk = if n == self.chunk {
                (self.chunk * 2).min(MAX_CHUNK)
            } else if n < self.chunk / 2 {
                MIN_CHUNK
            } else {
                self.chunk
            };
            if n == 0 {
                return if self.start == self.buf.len() {
                    Ok(false)
                } else {
                    Err(FrameIoError::Truncated)
                };
            }
        }
    }

    /// Takes one complete frame from the buffer, if there is one.
    fn next_buffered(&mut self) -> Result<Option<Vec<u8>>, FrameIoError> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        if pending.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = FrameHeader::parse(pending).map_err(FrameIoError::Frame)?;
        let len = HEADER_LEN + header.body_len;
        match pending.get(..len) {
            Some(frame) => {
                let frame = frame.to_vec();
                self.start += len;
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        debug_assert!(self.buf.len() < MAX_FRAME_LEN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backchannel_proto::frame::FrameKind;

    fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut f = FrameHeader::encode(FrameKind::from_u8(kind), body.len()).to_vec();
        f.extend_from_slice(body);
        f
    }

    #[tokio::test]
    async fn splits_a_stream_into_frames_in_batches() {
        let mut bytes = frame(1, b"one");
        bytes.extend(frame(1, b"two"));
        bytes.extend(frame(4, &[7; 40_000]));
        let mut r = FrameReader::new(&bytes[..]);
        let mut out = Vec::new();
        assert!(r.read_batch(&mut out, 64).await.unwrap());
        assert!(out.len() >= 2);
        while r.read_batch(&mut out, 64).await.unwrap() {}
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].len(), 12 + 40_000);
    }

    #[tokio::test]
    async fn a_busy_stream_gets_bigger_reads_and_an_idle_one_gives_the_memory_back() {
        // 400 frames of 350 bytes waiting: the first read takes 16 KiB (~46 frames),
        // the following ones grow to 64 KiB (~187).
        let one = frame(1, &[7; 338]);
        let bytes: Vec<u8> = std::iter::repeat_n(one.as_slice(), 400)
            .flatten()
            .copied()
            .collect();
        let mut r = FrameReader::new(&bytes[..]);
        let mut sizes = Vec::new();
        loop {
            let mut out = Vec::new();
            if !r.read_batch(&mut out, 1024).await.unwrap() {
                break;
            }
            sizes.push(out.len());
        }
        assert_eq!(sizes.iter().sum::<usize>(), 400);
        assert!(sizes[0] <= MIN_CHUNK / 350 + 1, "{sizes:?}");
        assert!(sizes.iter().any(|n| *n > MIN_CHUNK * 3 / 350), "{sizes:?}");
        assert_eq!(r.chunk, MIN_CHUNK, "the last reads were short");

        // A busy reader holds up to the largest chunk; once its reads are small and
        // its buffer empty, no more than the smallest.
        let mut r = FrameReader::new(&bytes[..]);
        let mut out = Vec::new();
        while out.len() < 300 {
            r.read_batch(&mut out, 1024).await.unwrap();
        }
        assert!(r.buf.capacity() >= MAX_CHUNK, "{}", r.buf.capacity());
        let quiet: Vec<u8> = std::iter::repeat_n(one.as_slice(), 3)
            .flatten()
            .copied()
            .collect();
        let mut r = FrameReader {
            inner: &quiet[..],
            buf: r.buf,
            start: r.start,
            chunk: r.chunk,
        };
        r.buf.truncate(r.start);
        let mut out = Vec::new();
        while r.read_batch(&mut out, 1).await.unwrap() {}
        assert_eq!(out.len(), 3);
        assert_eq!(r.chunk, MIN_CHUNK);
        assert!(r.buf.capacity() < 2 * MIN_CHUNK, "{}", r.buf.capacity());
    }

    #[tokio::test]
    async fn refuses_bad_headers_and_truncation() {
        let mut r = FrameReader::new(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert!(matches!(
            r.read_batch(&mut Vec::new(), 1).await,
            Err(FrameIoError::Frame(_))
        ));
        let mut huge = FrameHeader::encode(FrameKind::Envelope, 10).to_vec();
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut r = FrameReader::new(&huge[..]);
        assert!(matches!(
            r.read_batch(&mut Vec::new(), 1).await,
            Err(FrameIoError::Frame(Rejection::Oversize { .. }))
        ));
        let f = frame(1, b"abcdef");
        let mut r = FrameReader::new(&f[..8]);
        assert!(matches!(
            r.read_batch(&mut Vec::new(), 1).await,
            Err(FrameIoError::Truncated)
        ));
    }
}
