//! Media types: the manifest kinds Berth stores, and the other well-known OCI/Docker types.
//!
//! A manifest's kind decides how it is parsed and which `Accept` headers it satisfies, so the
//! set is closed: [`ManifestKind`] has exactly the four document types Berth understands.
//! Docker schema 1 is deliberately absent.
//!
//! [`ManifestKind::from_media_type`] reads HTTP header values: it ignores parameters and
//! surrounding whitespace and compares case-insensitively (RFC 9110). The `mediaType` field of a
//! JSON body is compared exactly instead; see [`super::manifest`].

use std::fmt;

/// Docker image manifest, schema version 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (the multi-platform index), schema version 2.
pub const DOCKER_MANIFEST_LIST_V2: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image configuration blob.
pub const DOCKER_CONFIG_V1: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip-compressed layer.
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker layer that must be fetched from its `urls` rather than from the registry.
pub const DOCKER_FOREIGN_LAYER_TAR_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// OCI image manifest.
pub const OCI_MANIFEST_V1: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX_V1: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image configuration blob.
pub const OCI_CONFIG_V1: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip-compressed layer.
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd-compressed layer.
pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The OCI empty descriptor's type: used as the config of artifacts that have none.
pub const OCI_EMPTY_V1: &str = "application/vnd.oci.empty.v1+json";
/// The content of the OCI empty blob: the two bytes `{}`.
pub const OCI_EMPTY_CONTENT: &[u8] = b"{}";

/// The manifest document types Berth accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ManifestKind {
    /// [`DOCKER_MANIFEST_V2`]
    DockerManifest,
    /// [`DOCKER_MANIFEST_LIST_V2`]
    DockerManifestList,
    /// [`OCI_MANIFEST_V1`]
    OciManifest,
    /// [`OCI_INDEX_V1`]
    OciIndex,
}

impl ManifestKind {
    /// Every kind, in a stable order.
    pub const ALL: [ManifestKind; 4] = [
        ManifestKind::DockerManifest,
        ManifestKind::DockerManifestList,
        ManifestKind::OciManifest,
        ManifestKind::OciIndex,
    ];

    /// The kind named by a header value such as `Content-Type`, ignoring parameters after `;`,
    /// surrounding whitespace and ASCII case. `None` if it names no manifest kind.
    pub fn from_media_type(header_value: &str) -> Option<ManifestKind> {
        let essence = header_value
            .split_once(';')
            .map_or(header_value, |(essence, _parameters)| essence)
            .trim();
        ManifestKind::ALL
            .into_iter()
            .find(|kind| kind.media_type().eq_ignore_ascii_case(essence))
    }

    /// The canonical media type of this kind.
    pub const fn media_type(self) -> &'static str {
        match self {
            ManifestKind::DockerManifest => DOCKER_MANIFEST_V2,
            ManifestKind::DockerManifestList => DOCKER_MANIFEST_LIST_V2,
            ManifestKind::OciManifest => OCI_MANIFEST_V1,
            ManifestKind::OciIndex => OCI_INDEX_V1,
        }
    }

    /// True for indexes (lists of manifests), false for image manifests.
    pub const fn is_index(self) -> bool {
        matches!(
            self,
            ManifestKind::DockerManifestList | ManifestKind::OciIndex
        )
    }

    /// True for the Docker schema 2 types, false for the OCI types.
    pub const fn is_docker(self) -> bool {
        matches!(
            self,
            ManifestKind::DockerManifest | ManifestKind::DockerManifestList
        )
    }
}

impl fmt::Display for ManifestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.media_type())
    }
}

/// Whether `s` is a media type as RFC 6838 names them: `type "/" subtype`, each a
/// restricted-name (`[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}`), optionally followed by
/// `;` parameters made of visible ASCII and spaces.
///
/// Descriptors carry media types that Berth re-emits (for example in referrers responses), so
/// they are held to the registration grammar rather than accepted as arbitrary text.
pub fn is_valid_media_type(s: &str) -> bool {
    let (essence, parameters) = s.split_once(';').unwrap_or((s, ""));
    let Some((type_name, subtype_name)) = essence.split_once('/') else {
        return false;
    };
    is_restricted_name(type_name)
        && is_restricted_name(subtype_name)
        && parameters
            .bytes()
            .all(|b| b == b' ' || b.is_ascii_graphic())
}

/// RFC 6838 section 4.2 `restricted-name`.
fn is_restricted_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    bytes.len() <= 127
        && first.is_ascii_alphanumeric()
        && rest.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks `header_value` up as a manifest kind and compares with `expected`.
    fn check(header_value: &str, expected: Option<ManifestKind>) {
        assert_eq!(
            ManifestKind::from_media_type(header_value),
            expected,
            "{header_value:?}"
        );
    }

    #[test]
    fn kinds_from_header_values() {
        for kind in ManifestKind::ALL {
            check(kind.media_type(), Some(kind));
            check(&format!("  {kind} ; charset=utf-8"), Some(kind));
            check(&kind.media_type().to_ascii_uppercase(), Some(kind));
        }
        check("", None);
        check("application/json", None);
        check(OCI_CONFIG_V1, None);
        check(OCI_EMPTY_V1, None);
        check(
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            None,
        );
        check("application/vnd.oci.image.manifest.v1+json+x", None);
    }

    #[test]
    fn kind_properties() {
        use ManifestKind::*;
        let table = [
            (DockerManifest, DOCKER_MANIFEST_V2, false, true),
            (DockerManifestList, DOCKER_MANIFEST_LIST_V2, true, true),
            (OciManifest, OCI_MANIFEST_V1, false, false),
            (OciIndex, OCI_INDEX_V1, true, false),
        ];
        for (kind, media_type, is_index, is_docker) in table {
            assert_eq!(kind.media_type(), media_type);
            assert_eq!(kind.to_string(), media_type);
            assert_eq!(kind.is_index(), is_index, "{kind:?}");
            assert_eq!(kind.is_docker(), is_docker, "{kind:?}");
        }
    }

    #[test]
    fn media_type_syntax() {
        for valid in [
            OCI_LAYER_TAR_GZIP,
            DOCKER_FOREIGN_LAYER_TAR_GZIP,
            OCI_EMPTY_V1,
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "text/plain; charset=utf-8",
            "a/b",
        ] {
            assert!(is_valid_media_type(valid), "{valid:?}");
        }
        for invalid in [
            "",
            "application",
            "application/",
            "/json",
            "application/vnd.x/y",
            "application/.json",
            "appli cation/json",
            "application/json; a=\u{7f}",
            "application/json\r\nx-injected: 1",
        ] {
            assert!(!is_valid_media_type(invalid), "{invalid:?}");
        }
        assert!(!is_valid_media_type(&format!("a/{}", "b".repeat(128))));
        assert!(is_valid_media_type(&format!("a/{}", "b".repeat(127))));
    }
}
