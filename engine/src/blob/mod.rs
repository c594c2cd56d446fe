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
//! - A file under `blobs/` is only ever created by [`BlobStore::link_into_place`], which
//!   hard-links an upload file whose bytes were hashed to the file's name and fsynced. So a
//!   visible blob file always holds the bytes of its digest, whatever moment the process dies at.
//! - `link_into_place` makes the link durable (fsync of the directory) before it returns, and
//!   callers write metadata only after it returns: data before metadata.
//! - A blob file is removed only by garbage collection, inside a metadata writer job that has
//!   checked no row names it (see `docs/design/storage.md`).
//! - Files are written with O_DIRECT through [`AppendWriter`] and read through [`BlobFile`]; both
//!   keep memory bounded by their buffer sizes, whatever the blob's size.

mod append;
mod probe;
mod read;

use std::io;
use std::path::{Path, PathBuf};

use crate::oci::{Algorithm, Digest, DigestHasher};

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

    /// Links a fully written, fsynced upload file into place as blob `digest` and makes the
    /// link durable. It is a hard link: the upload file keeps its name (and shares the inode)
    /// until the caller removes it, so a caller whose blob file is removed by garbage
    /// collection before its metadata is written can link it again. If the blob's file
    /// already exists (another push of the same content), it is kept: both hold the same
    /// bytes. Either way the directory is fsynced, so the file is durable whoever created it.
    ///
    /// The caller must have verified that the file's bytes hash to `digest` and fsynced it,
    /// and must never write to the upload file again.
    pub async fn link_into_place(&self, upload_file: &Path, digest: &Digest) -> io::Result<()> {
        let target = self.blob_path(digest);
        let fan_dir = target
            .parent()
            .ok_or_else(|| io::Error::other("blob path has no parent"))?
            .to_path_buf();
        if !fan_dir.is_dir() {
            // Created once per prefix (at most 256 per algorithm); make each new directory
            // entry durable so the link below cannot be lost with its directory.
            std::fs::create_dir_all(&fan_dir)?;
            if let Some(algo_dir) = fan_dir.parent() {
                sync_dir(algo_dir).await?;
                if let Some(blobs_dir) = algo_dir.parent() {
                    sync_dir(blobs_dir).await?;
                }
            }
        }
        match std::fs::hard_link(upload_file, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
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

    /// Hashes a durable file (an upload's) with `algorithm`, reading it in bounded chunks.
    pub async fn hash_file(&self, path: &Path, algorithm: Algorithm) -> io::Result<Digest> {
        const CHUNK_BYTES: usize = 1 << 20;
        let file = BlobFile::open(path, &self.uploads_dir).await?;
        let mut hasher = DigestHasher::new(algorithm);
        let mut pos = 0;
        while pos < file.size() {
            let chunk = file.read(pos, CHUNK_BYTES).await?;
            if chunk.is_empty() {
                break;
            }
            hasher.update(&chunk);
            pos += chunk.len() as u64;
        }
        file.close().await?;
        Ok(hasher.finish())
    }

    /// Bytes available to this process on the data directory's file system (statvfs).
    pub fn free_bytes(&self) -> io::Result<u64> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.blobs_dir.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `statvfs` is a plain C struct of integers, for which all-zero bytes are a
        // valid value.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `path` is a valid NUL-terminated string and `stat` a properly sized,
        // writable struct that statvfs fills in.
        if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// Removes blob `digest`'s file. Blocking; for garbage collection, which calls it inside a
    /// metadata writer job after checking that no row names the blob. Returns whether a file
    /// was there.
    pub fn remove_blob_file_blocking(&self, digest: &Digest) -> io::Result<bool> {
        match std::fs::remove_file(self.blob_path(digest)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every file under `blobs/`, with the digest its path names (None for a path that names
    /// no digest). Blocking directory walk: for fsck and garbage collection.
    pub fn blob_files(&self) -> io::Result<Vec<BlobFileEntry>> {
        let mut out = Vec::new();
        for algo in read_dir_sorted(&self.blobs_dir)? {
            let algo_name = algo.file_name().to_string_lossy().into_owned();
            if !algo.file_type()?.is_dir() {
                out.push(BlobFileEntry::new(algo.path(), None)?);
                continue;
            }
            for fan in read_dir_sorted(&algo.path())? {
                if !fan.file_type()?.is_dir() {
                    out.push(BlobFileEntry::new(fan.path(), None)?);
                    continue;
                }
                let fan_name = fan.file_name().to_string_lossy().into_owned();
                for file in read_dir_sorted(&fan.path())? {
                    let name = file.file_name().to_string_lossy().into_owned();
                    let digest = Digest::parse(&format!("{algo_name}:{name}"))
                        .ok()
                        .filter(|d| d.encoded().starts_with(&fan_name) && fan_name.len() == 2)
                        .filter(|_| file.file_type().is_ok_and(|t| t.is_file()));
                    out.push(BlobFileEntry::new(file.path(), digest)?);
                }
            }
        }
        Ok(out)
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

/// A file found under `blobs/` by [`BlobStore::blob_files`].
#[derive(Debug, Clone)]
pub struct BlobFileEntry {
    pub path: PathBuf,
    /// The digest the path names; None for a stray file whose path names no digest.
    pub digest: Option<Digest>,
    pub size: u64,
    /// Last status change (ctime) in ms: a hard link made by a push updates it, so a file
    /// just linked into place looks new even if its bytes were written long ago.
    pub changed_at_ms: u64,
}

impl BlobFileEntry {
    fn new(path: PathBuf, digest: Option<Digest>) -> io::Result<BlobFileEntry> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(&path)?;
        let changed_at_ms = u64::try_from(meta.ctime())
            .unwrap_or(0)
            .saturating_mul(1000)
            .saturating_add(u64::try_from(meta.ctime_nsec()).unwrap_or(0) / 1_000_000);
        Ok(BlobFileEntry {
            path,
            digest,
            size: meta.len(),
            changed_at_ms,
        })
    }
}

fn read_dir_sorted(dir: &Path) -> io::Result<Vec<std::fs::DirEntry>> {
    let mut entries = std::fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let handle = glommio::io::Directory::open(dir).await?;
    handle.sync().await?;
    handle.close().await?;
    Ok(())
}

/// Moves `from` to `to` (creating `to`'s directory) so that the move survives a crash: the
/// file's data first, then the rename, then both directories (neon's `crashsafe` order).
/// Blocking: for offline maintenance (`fsck --repair`).
pub(crate) fn rename_durably(from: &Path, to: &Path) -> io::Result<()> {
    let parent = |p: &Path| {
        p.parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| io::Error::other(format!("{} has no parent", p.display())))
    };
    let (from_dir, to_dir) = (parent(from)?, parent(to)?);
    std::fs::create_dir_all(&to_dir)?;
    std::fs::File::open(from)?.sync_all()?;
    std::fs::rename(from, to)?;
    std::fs::File::open(&to_dir)?.sync_all()?;
    if from_dir != to_dir {
        std::fs::File::open(&from_dir)?.sync_all()?;
    }
    Ok(())
}
