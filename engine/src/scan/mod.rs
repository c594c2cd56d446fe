//! Vulnerability scanning's pure layer (issue #11): what an image's filesystem says is
//! installed, and how each packaging ecosystem orders versions.
//!
//! - [`version`]: version ordering for dpkg, apk and rpm ([`version::compare`]).
//! - [`packages`]: parsers of os-release and of the installed-package databases (dpkg status,
//!   apk installed, rpm headers and `rpmdb.sqlite`) from file bytes.
//!
//! **Architecture Invariant:** nothing here reads the image's filesystem, the blob store or the
//! network; the parsers take bytes the caller has already pulled out of a layer, and every one
//! of them bounds its input and its output.

pub mod packages;
pub mod version;
