//! The content-addressed blob store: the one module that touches glommio's file APIs.
//!
//! On-disk layout under the data directory:
//!
//! ```text
//! blobs/<algorithm>/<first two hex chars>/<encoded>   verified, durable, immutable blob bytes
//! uploads/<upload id>                                 bytes of an upload in progress
//! ```
//!
//! A blob is stored once whatever number of repositories reference it: "repository R has blob
//! B" is a metadata row, never a second file.
//!
//! Invariants:
//! - A file under `blobs/` is only ever created by [`BlobStore::commit`], which renames an upload
//!   file whose bytes were hashed to the file's name and fsynced. So a visible blob file always
//!   holds the bytes of its digest, whatever moment the process dies at.
//! - `commit` makes the rename durable (fsync of the directory) before it returns, and callers
//!   write metadata only after it returns: data before metadata.
//! - Files are written with O_DIRECT through [`AppendWriter`] and read through [`BlobFile`]; both
//!   keep memory bounded by their buffer sizes, whatever the blob's size.

mod append;
mod probe;
mod read;

use std::io;
use std::path::{Path, PathBuf};

use crate::oci::Digest;

pub use append::AppendWriter;
pub use read::BlobFile;

/// Where blob bytes live. Cheap to clone; holds no open files.
#[derive(Debug, Clone)]
pub struct BlobStore {
    blobs_dir: PathBuf,
    uploads_dir: PathBuf,
}

impl BlobStore {
    /// Creates the layout's directories if missing. Blocking: call at start-up, before the
    /// executors serve requests.
    pub fn open(data_dir: &Path) -> io::Result<BlobStore> {
        let blobs_dir = data_dir.join("blobs");
        let uploads_dir = data_dir.join("uploads");
        std::fs::create_dir_all(&blobs_dir)?;
        std::fs::create_dir_all(&uploads_dir)?;
        Ok(BlobStore {
            blobs_dir,
            uploads_dir,
        })
    }

    pub fn uploads_dir(&self) -> &Path {
        &self.uploads_dir
    }

    pub fn blobs_dir(&self) -> &Path {
        &self.blobs_dir
    }

    /// `blobs/<algorithm>/<first two hex chars>/<encoded>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let encoded = digest.encoded();
        self.blobs_dir
            .join(digest.algorithm().as_str())
            .join(&encoded[..2])
            .join(encoded)
    }

    /// The data file of upload `name` (an upload id, or a one-shot name for monolithic pushes).
    pub fn upload_path(&self, name: &str) -> PathBuf {
        self.uploads_dir.join(name)
    }

    /// Whether the blob's file exists. A stat, no read; the metadata row is the authority on
    /// whether a blob is *stored*, this only serves dedup and fsck.
    pub fn blob_file_exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Moves a fully written, fsynced upload file into place as blob `digest` and makes the
    /// move durable. If the blob already exists (another push of the same content won the
    /// race), the upload file is removed instead: both hold the same bytes.
    ///
    /// The caller must have verified that the file's bytes hash to `digest` and fsynced it.
    pub async fn commit(&self, upload_file: &Path, digest: &Digest) -> io::Result<()> {
        let target = self.blob_path(digest);
        let fan_dir = target
            .parent()
            .ok_or_else(|| io::Error::other("blob path has no parent"))?
            .to_path_buf();
        if !fan_dir.is_dir() {
            // Created once per prefix (at most 256 per algorithm); make each new directory
            // entry durable so the rename below cannot be lost with its directory.
            std::fs::create_dir_all(&fan_dir)?;
            if let Some(algo_dir) = fan_dir.parent() {
                sync_dir(algo_dir).await?;
                if let Some(blobs_dir) = algo_dir.parent() {
                    sync_dir(blobs_dir).await?;
                }
            }
        }
        if target.is_file() {
            glommio::io::remove(upload_file).await?;
            return Ok(());
        }
        // rename(2) replaces atomically: a concurrent commit of the same digest leaves one file
        // holding the same bytes either way.
        glommio::io::rename(upload_file, &target).await?;
        sync_dir(&fan_dir).await?;
        Ok(())
    }

    /// Removes an upload's data file; a missing file is not an error.
    pub async fn remove_upload_file(&self, name: &str) -> io::Result<()> {
        match glommio::io::remove(self.upload_path(name)).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = io::Error::from(e);
                if e.kind() == io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Opens a stored blob for reading.
    pub async fn open_blob(&self, digest: &Digest) -> io::Result<BlobFile> {
        BlobFile::open(&self.blob_path(digest), &self.uploads_dir).await
    }

    /// Names of the files in `uploads/`. Blocking directory walk: for start-up and background
    /// sweeps only.
    pub fn list_upload_files(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.uploads_dir)? {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let handle = glommio::io::Directory::open(dir).await?;
    handle.sync().await?;
    handle.close().await?;
    Ok(())
}
