//! Streaming O_DIRECT appends through io_uring, with bounded memory.
//!
//! O_DIRECT writes must start at, and be a multiple of, the file's alignment. The writer keeps
//! one aligned buffer that mirrors the file from `buf_pos` (aligned) onwards:
//!
//! ```text
//! file:  [ ..... durable, aligned blocks ..... | buf_pos ... buf_pos+buf_len )
//! buf:                                         [ 0 ........... buf_len )
//! ```
//!
//! A full buffer is written with one `write_at` while the next one fills (at most one write in
//! flight). `finish` writes the last partial block padded with zeros, truncates the file to its
//! exact length and fsyncs it. Resuming at an unaligned offset reads the partial tail block back
//! into the buffer first, so earlier bytes are rewritten unchanged.

use std::io;
use std::path::Path;
use std::rc::Rc;

use glommio::io::{DmaBuffer, DmaFile, OpenOptions};
use glommio::task::JoinHandle;

pub struct AppendWriter {
    file: Rc<DmaFile>,
    buf: DmaBuffer,
    buf_len: usize,
    /// File offset of `buf[0]`; always aligned.
    buf_pos: u64,
    /// Logical length of the file: every byte appended so far.
    len: u64,
    in_flight: Option<JoinHandle<io::Result<usize>>>,
    buffer_bytes: usize,
}

impl AppendWriter {
    /// Creates (or truncates) `path` and appends from offset 0.
    pub async fn create(path: &Path, buffer_bytes: usize) -> io::Result<AppendWriter> {
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create(true)
            .truncate(true)
            .dma_open(path)
            .await?;
        Self::at(file, 0, buffer_bytes).await
    }

    /// Opens an existing `path` and appends from `offset`; bytes past `offset` (a write that
    /// was never acknowledged) are overwritten and cut off by `finish`.
    pub async fn resume(path: &Path, offset: u64, buffer_bytes: usize) -> io::Result<AppendWriter> {
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .dma_open(path)
            .await?;
        Self::at(file, offset, buffer_bytes).await
    }

    async fn at(file: DmaFile, offset: u64, buffer_bytes: usize) -> io::Result<AppendWriter> {
        let buffer_bytes = file.align_up(buffer_bytes.max(1) as u64) as usize;
        let buf_pos = file.align_down(offset);
        let head = (offset - buf_pos) as usize;
        let mut buf = file.alloc_dma_buffer(buffer_bytes);
        if head > 0 {
            let tail = file
                .read_at_aligned(buf_pos, file.alignment() as usize)
                .await?;
            if tail.len() < head {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "upload file holds {} bytes, session says {offset}",
                        buf_pos + tail.len() as u64
                    ),
                ));
            }
            buf.as_bytes_mut()[..head].copy_from_slice(&tail[..head]);
        }
        Ok(AppendWriter {
            file: Rc::new(file),
            buf,
            buf_len: head,
            buf_pos,
            len: offset,
            in_flight: None,
            buffer_bytes,
        })
    }

    /// Bytes appended so far, including those before a resume.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub async fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = self.buffer_bytes - self.buf_len;
            let n = room.min(data.len());
            self.buf.as_bytes_mut()[self.buf_len..self.buf_len + n].copy_from_slice(&data[..n]);
            self.buf_len += n;
            self.len += n as u64;
            data = &data[n..];
            if self.buf_len == self.buffer_bytes {
                self.flush_full_buffer().await?;
            }
        }
        Ok(())
    }

    async fn flush_full_buffer(&mut self) -> io::Result<()> {
        self.wait_in_flight().await?;
        let full = std::mem::replace(&mut self.buf, self.file.alloc_dma_buffer(self.buffer_bytes));
        let pos = self.buf_pos;
        self.buf_pos += self.buffer_bytes as u64;
        self.buf_len = 0;
        let file = self.file.clone();
        let expected = self.buffer_bytes;
        self.in_flight = Some(
            glommio::spawn_local(async move {
                let written = file.write_at(full, pos).await?;
                if written != expected {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("short write: {written} of {expected} bytes"),
                    ));
                }
                Ok(written)
            })
            .detach(),
        );
        Ok(())
    }

    async fn wait_in_flight(&mut self) -> io::Result<()> {
        if let Some(task) = self.in_flight.take() {
            match task.await {
                Some(result) => {
                    result?;
                }
                None => return Err(io::Error::other("write task was cancelled")),
            }
        }
        Ok(())
    }

    /// Writes what is buffered, cuts the file to its logical length and fsyncs it. Returns the
    /// length. After `finish` the file's first `len` bytes are durable.
    pub async fn finish(mut self) -> io::Result<u64> {
        self.wait_in_flight().await?;
        let AppendWriter {
            file,
            mut buf,
            buf_len,
            buf_pos,
            len,
            ..
        } = self;
        if buf_len > 0 {
            let padded = file.align_up(buf_len as u64) as usize;
            buf.as_bytes_mut()[buf_len..padded].fill(0);
            buf.trim_to_size(padded);
            let written = file.write_at(buf, buf_pos).await?;
            if written != padded {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short write: {written} of {padded} bytes"),
                ));
            }
        }
        file.truncate(len).await?;
        file.fdatasync().await?;
        match Rc::try_unwrap(file) {
            Ok(file) => file.close().await?,
            Err(_) => return Err(io::Error::other("upload file still shared at close")),
        }
        Ok(len)
    }

    /// Abandons the write: waits for the in-flight write and closes the file, durable or not.
    pub async fn abandon(mut self) {
        let _ = self.wait_in_flight().await;
        if let Ok(file) = Rc::try_unwrap(self.file) {
            let _ = file.close().await;
        }
    }
}
