//! [`RegistryError`]: every way a registry operation fails, as states the server maps one to
//! one onto distribution-spec error codes. `Corrupted` (stored data is wrong) is never folded
//! into an "unknown" variant.

use std::io;

use crate::meta::MetaError;
use crate::oci::{Digest, ManifestError, RepoName};

/// Every way a registry operation can fail. Variants read as states; the server maps each one
/// onto exactly one distribution-spec error code.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("repository {repo} is not known to the registry")]
    NameUnknown { repo: RepoName },
    #[error("blob {digest} is not known to this repository")]
    BlobUnknown { digest: Digest },
    #[error("manifest {reference} is not known to this repository")]
    ManifestUnknown { reference: String },
    #[error("manifest references blob {digest}, which this repository does not have")]
    ManifestBlobUnknown { digest: Digest },
    #[error("index references manifest {digest}, which this repository does not have")]
    ManifestChildUnknown { digest: Digest },
    #[error("manifest invalid: {0}")]
    ManifestInvalid(#[from] ManifestError),
    #[error("manifest invalid: {field}: {reason}")]
    ManifestFieldInvalid { field: String, reason: String },
    #[error("manifest is {size} bytes, more than the {max} allowed")]
    ManifestTooLarge { size: u64, max: u64 },
    #[error("content digest is {actual}, not the {expected} given")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("upload {id} is not known")]
    UploadUnknown { id: String },
    #[error("upload is at offset {offset}, the chunk starts at {start}")]
    UploadOffsetMismatch { offset: u64, start: u64 },
    #[error("upload {id} is being written by another request")]
    UploadBusy { id: String },
    #[error("upload would exceed the {max} byte limit")]
    UploadTooLarge { max: u64 },
    #[error(
        "storage is full: {free} bytes free, below the {reserve} byte reserve kept for metadata"
    )]
    StorageFull { free: u64, reserve: u64 },
    #[error("{namespace:?} is not a valid namespace name (one lowercase name component)")]
    NamespaceInvalid { namespace: String },
    #[error("namespace {namespace} does not exist")]
    NamespaceUnknown { namespace: String },
    #[error("namespace {namespace} already exists")]
    NamespaceExists { namespace: String },
    #[error("account {owner} already owns {max} namespaces, the most allowed")]
    NamespaceLimit { owner: String, max: usize },
    #[error("namespace {namespace} still holds {repositories} repositories")]
    NamespaceNotEmpty {
        namespace: String,
        repositories: usize,
    },
    #[error(
        "repository {repo} does not exist and its namespace does not create repositories on push"
    )]
    RepositoryNotCreatable { repo: RepoName },
    #[error("repository {repo} already exists")]
    RepositoryExists { repo: RepoName },
    #[error("the registry is overloaded: {0}")]
    Overloaded(String),
    #[error("stored data is corrupted: {what}")]
    Corrupted { what: String },
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Meta(MetaError),
}

impl RegistryError {
    /// The file system is full, or below the reserve that keeps metadata writable.
    pub fn is_storage_full(&self) -> bool {
        match self {
            RegistryError::StorageFull { .. } => true,
            RegistryError::Io(e) => e.raw_os_error() == Some(libc::ENOSPC),
            _ => false,
        }
    }
}

impl From<MetaError> for RegistryError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Overloaded { max } => {
                RegistryError::Overloaded(format!("{max} metadata writes queued"))
            }
            MetaError::Corrupted { key, reason } => RegistryError::Corrupted {
                what: format!("metadata {key}: {reason}"),
            },
            other => RegistryError::Meta(other),
        }
    }
}

impl From<glommio::GlommioError<()>> for RegistryError {
    fn from(e: glommio::GlommioError<()>) -> Self {
        RegistryError::Io(e.into())
    }
}
