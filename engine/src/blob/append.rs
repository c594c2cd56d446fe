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
        super::probe::ensure_probed(path.parent().unwrap_or(Path::new("."))).await?;
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
        super::probe::ensure_probed(path.parent().unwrap_or(Path::new("."))).await?;
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
        // O_DIRECT: a write that starts or ends off the alignment fails with EINVAL. Both are
        // kept aligned by construction (resume aligns down, buffers are aligned up).
        assert_eq!(
            pos % self.file.alignment(),
            0,
            "unaligned O_DIRECT write at {pos}"
        );
        assert_eq!(
            self.buffer_bytes as u64 % self.file.alignment(),
            0,
            "buffer of {} bytes is not a multiple of the alignment",
            self.buffer_bytes
        );
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
            assert_eq!(
                buf_pos % file.alignment(),
                0,
                "unaligned final write at {buf_pos}"
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs `f` on a glommio executor with a modest registered-memory budget (the locked-memory
    /// limit on CI machines is 8 MiB).
    pub(crate) fn on_executor<T: Send + 'static>(
        f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
    ) -> T {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(256 << 10)
            .spawn(f)
            .expect("executor")
            .join()
            .expect("join")
    }

    /// Appends `pieces` to a new file, stopping and resuming (a new writer from the recorded
    /// length) after every piece listed in `resume_after`; returns the file's bytes.
    fn check(pieces: Vec<Vec<u8>>, resume_after: Vec<usize>, buffer_bytes: usize) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("upload");
        let expected: Vec<u8> = pieces.concat();
        let written = on_executor({
            let path = path.clone();
            move || {
                Box::pin(async move {
                    let mut writer = AppendWriter::create(&path, buffer_bytes)
                        .await
                        .expect("create");
                    for (i, piece) in pieces.iter().enumerate() {
                        writer.write(piece).await.expect("write");
                        if resume_after.contains(&i) {
                            let len = writer.finish().await.expect("finish");
                            writer = AppendWriter::resume(&path, len, buffer_bytes)
                                .await
                                .expect("resume");
                        }
                    }
                    writer.finish().await.expect("finish")
                })
            }
        });
        assert_eq!(written, expected.len() as u64);
        let on_disk = std::fs::read(&path).expect("read back");
        assert_eq!(on_disk.len(), expected.len());
        assert!(
            on_disk == expected,
            "file content differs from what was appended"
        );
    }

    #[test]
    fn empty_file() {
        check(vec![], vec![], 4096);
    }

    #[test]
    fn exact_buffer_multiples_and_unaligned_tails() {
        check(vec![vec![1; 8192]], vec![], 4096);
        check(vec![vec![2; 8193]], vec![], 4096);
        check(
            vec![vec![3; 100], vec![4; 5000], vec![5; 3]],
            vec![0, 1],
            4096,
        );
    }

    #[test]
    fn bytes_past_the_resume_offset_are_cut_off() {
        // A write that was never acknowledged leaves bytes past the recorded offset; resuming
        // at the offset must overwrite and truncate them.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("upload");
        on_executor({
            let path = path.clone();
            move || {
                Box::pin(async move {
                    let mut w = AppendWriter::create(&path, 4096).await.expect("create");
                    w.write(&[7; 6000]).await.expect("write");
                    w.finish().await.expect("finish");
                    let mut w = AppendWriter::resume(&path, 1000, 4096)
                        .await
                        .expect("resume");
                    w.write(&[9; 10]).await.expect("write");
                    w.finish().await.expect("finish")
                })
            }
        });
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 1010);
        assert!(bytes[..1000].iter().all(|b| *b == 7));
        assert!(bytes[1000..].iter().all(|b| *b == 9));
    }

    #[test]
    fn resume_past_the_end_of_the_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("upload");
        let err = on_executor({
            let path = path.clone();
            move || {
                Box::pin(async move {
                    let mut w = AppendWriter::create(&path, 4096).await.expect("create");
                    w.write(&[1; 10]).await.expect("write");
                    w.finish().await.expect("finish");
                    AppendWriter::resume(&path, 5000, 4096).await.err()
                })
            }
        });
        assert!(err.is_some(), "resuming beyond the file's bytes must fail");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_split_and_resume_pattern_round_trips(
            sizes in proptest::collection::vec(0usize..20_000, 0..8),
            resume_mask in any::<u8>(),
            seed in any::<u8>(),
        ) {
            let pieces: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| (0..*n).map(|j| (j as u8).wrapping_mul(31).wrapping_add(i as u8 ^ seed)).collect())
                .collect();
            let resume_after = (0..8).filter(|i| resume_mask & (1 << i) != 0).collect();
            check(pieces, resume_after, 8192);
        }
    }
}
