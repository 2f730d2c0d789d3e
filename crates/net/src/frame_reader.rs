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
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
}

const READ_CHUNK: usize = 16 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a stream.
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
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
            self.buf.reserve(READ_CHUNK);
            let n = (&mut self.inner)
                .take(READ_CHUNK as u64)
                .read_buf(&mut self.buf)
                .await?;
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
