//! Ranged reads of stored blobs with bounded buffers.

use std::io;
use std::path::Path;

use bytes::Bytes;
use glommio::io::DmaFile;

/// An open blob. Reads are positioned; nothing is cached between them.
pub struct BlobFile {
    file: DmaFile,
    size: u64,
}

impl BlobFile {
    /// `scratch_dir` is where a first use on this thread may write its probe file.
    pub(super) async fn open(path: &Path, scratch_dir: &Path) -> io::Result<BlobFile> {
        super::probe::ensure_probed(scratch_dir).await?;
        let file = DmaFile::open(path).await?;
        let size = file.file_size().await?;
        Ok(BlobFile { file, size })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads up to `len` bytes at `pos`. Returns fewer only at the end of the file.
    pub async fn read(&self, pos: u64, len: usize) -> io::Result<Bytes> {
        let result = self.file.read_at(pos, len).await?;
        Ok(Bytes::copy_from_slice(&result))
    }

    pub async fn close(self) -> io::Result<()> {
        self.file.close().await?;
        Ok(())
    }
}
