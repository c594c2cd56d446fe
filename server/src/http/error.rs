//! The OCI error JSON: the only place that knows its shape and the code ↔ status mapping.
//!
//! ```text
//! {"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":{...}}]}
//! ```
//!
//! Engine errors become API errors through one exhaustive `match` ([`From<RegistryError>`]).
//! A 500 logs its details here and returns a generic body.

use berth_engine::RegistryError;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::json;

/// The distribution-spec error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unsupported,
    TooManyRequests,
    Unauthorized,
    Denied,
    /// Not a spec code (management API): the thing to create exists, or is still in use.
    Conflict,
    /// Not a spec code (management API): a per-account limit is reached.
    LimitExceeded,
    /// Not a spec code: internal failures. The body says nothing more.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::Internal => "INTERNAL_ERROR",
        }
    }

    /// The spec's message for the code.
    fn message(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "blob unknown to registry",
            ErrorCode::BlobUploadInvalid => "blob upload invalid",
            ErrorCode::BlobUploadUnknown => "blob upload unknown to registry",
            ErrorCode::DigestInvalid => "provided digest did not match uploaded content",
            ErrorCode::ManifestBlobUnknown => "manifest references a blob unknown to registry",
            ErrorCode::ManifestInvalid => "manifest invalid",
            ErrorCode::ManifestUnknown => "manifest unknown to registry",
            ErrorCode::NameInvalid => "invalid repository name",
            ErrorCode::NameUnknown => "repository name not known to registry",
            ErrorCode::SizeInvalid => "provided length did not match content length",
            ErrorCode::Unsupported => "the operation is unsupported",
            ErrorCode::TooManyRequests => "too many requests",
            ErrorCode::Unauthorized => "authentication required",
            ErrorCode::Denied => "requested access to the resource is denied",
            ErrorCode::Conflict => "the resource exists or is in use",
            ErrorCode::LimitExceeded => "a limit is reached",
            ErrorCode::Internal => "internal server error",
        }
    }
}

/// An error answer: status, code, detail, and any headers the spec asks for with it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "")
    }

    pub fn body(&self) -> Vec<u8> {
        let detail = if self.detail.is_empty() {
            serde_json::Value::Null
        } else {
            json!(self.detail)
        };
        let body = json!({
            "errors": [{
                "code": self.code.as_str(),
                "message": self.code.message(),
                "detail": detail,
            }]
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        use ErrorCode as C;
        use StatusCode as S;
        let detail = e.to_string();
        match e {
            RegistryError::NameUnknown { .. } => {
                ApiError::new(S::NOT_FOUND, C::NameUnknown, detail)
            }
            RegistryError::BlobUnknown { .. } => {
                ApiError::new(S::NOT_FOUND, C::BlobUnknown, detail)
            }
            RegistryError::ManifestUnknown { .. } => {
                ApiError::new(S::NOT_FOUND, C::ManifestUnknown, detail)
            }
            RegistryError::ManifestBlobUnknown { .. } => {
                ApiError::new(S::BAD_REQUEST, C::ManifestBlobUnknown, detail)
            }
            RegistryError::ManifestChildUnknown { .. } => {
                ApiError::new(S::BAD_REQUEST, C::ManifestUnknown, detail)
            }
            RegistryError::ManifestInvalid(_) | RegistryError::ManifestFieldInvalid { .. } => {
                ApiError::new(S::BAD_REQUEST, C::ManifestInvalid, detail)
            }
            RegistryError::ManifestTooLarge { .. } => {
                ApiError::new(S::PAYLOAD_TOO_LARGE, C::SizeInvalid, detail)
            }
            RegistryError::DigestMismatch { .. } => {
                ApiError::new(S::BAD_REQUEST, C::DigestInvalid, detail)
            }
            RegistryError::UploadUnknown { .. } => {
                ApiError::new(S::NOT_FOUND, C::BlobUploadUnknown, detail)
            }
            RegistryError::UploadOffsetMismatch { offset, .. } => {
                ApiError::new(S::RANGE_NOT_SATISFIABLE, C::BlobUploadInvalid, detail)
                    .with_header(http::header::RANGE, upload_range(offset))
            }
            RegistryError::UploadBusy { .. } => {
                ApiError::new(S::CONFLICT, C::BlobUploadInvalid, detail)
            }
            RegistryError::UploadTooLarge { .. } => {
                ApiError::new(S::PAYLOAD_TOO_LARGE, C::SizeInvalid, detail)
            }
            RegistryError::Overloaded(_) => {
                ApiError::new(S::TOO_MANY_REQUESTS, C::TooManyRequests, detail)
                    .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("1"))
            }
            RegistryError::NamespaceUnknown { .. }
            | RegistryError::RepositoryNotCreatable { .. } => {
                ApiError::new(S::NOT_FOUND, C::NameUnknown, detail)
            }
            RegistryError::NamespaceInvalid { .. } => {
                ApiError::new(S::BAD_REQUEST, C::NameInvalid, detail)
            }
            RegistryError::NamespaceExists { .. }
            | RegistryError::RepositoryExists { .. }
            | RegistryError::NamespaceNotEmpty { .. } => {
                ApiError::new(S::CONFLICT, C::Conflict, detail)
            }
            RegistryError::NamespaceLimit { .. } => {
                ApiError::new(S::FORBIDDEN, C::LimitExceeded, detail)
            }
            RegistryError::Corrupted { .. } => ApiError::internal("stored data is corrupted", &e),
            RegistryError::StorageFull { .. } => {
                tracing::warn!(error = %e, "refusing upload bytes");
                ApiError::new(S::INSUFFICIENT_STORAGE, C::Internal, e.to_string())
            }
            RegistryError::Io(ref io) if io.raw_os_error() == Some(libc_enospc()) => {
                tracing::error!(error = %e, "disk full");
                ApiError::new(
                    S::INSUFFICIENT_STORAGE,
                    C::Internal,
                    "the registry is out of storage space",
                )
            }
            RegistryError::Io(_) => ApiError::internal("i/o failure", &e),
            RegistryError::Meta(_) => ApiError::internal("metadata failure", &e),
        }
    }
}

/// ENOSPC on Linux.
const fn libc_enospc() -> i32 {
    28
}

/// The `Range` header of an upload holding `offset` bytes: `0-<last byte>`, and `0-0` when
/// empty, as Distribution and the clients written against it expect.
pub fn upload_range(offset: u64) -> HeaderValue {
    HeaderValue::from_str(&berth_engine::oci::upload_protocol::range_header(offset))
        .unwrap_or(HeaderValue::from_static("0-0"))
}
