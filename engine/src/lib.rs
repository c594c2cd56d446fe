//! Berth's engine: all state and on-disk truth of the registry.
//!
//! The engine owns OCI identifiers and documents (`oci`), the content-addressed blob store
//! (`blob`), resumable upload sessions (`upload`), the RocksDB metadata (`meta`) and the
//! operations that span them (`registry`).
//!
//! **Architecture Invariant:** the engine knows nothing about HTTP, tokens or JSON error bodies.
//! It returns typed errors; the server decides what a client sees. It does hold the access
//! model as data (`access`: the policy language; `accounts`: accounts, policies, temporary
//! credentials, the audit log); authenticating requests is the server's.

pub mod access;
#[cfg(feature = "storage")]
pub mod accounts;
#[cfg(feature = "storage")]
pub mod blob;
pub mod clock;
#[cfg(feature = "storage")]
pub mod maintenance;
#[cfg(feature = "storage")]
pub mod meta;
pub mod oci;
#[cfg(feature = "storage")]
pub mod registry;
#[cfg(feature = "storage")]
pub mod upload;

pub use clock::{Clock, SystemClock};
