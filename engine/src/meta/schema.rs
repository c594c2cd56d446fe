//! The metadata schema: column families, key encodings and record types.
//!
//! Every key is built here and nowhere else, so the ordering guarantees that listings rely on
//! are stated once. Keys are byte strings whose lexical order is the order clients see:
//!
//! ```text
//! cf "repos"          <repo>                              -> RepoRecord (json)
//! cf "tags"           <repo> 0x00 <folded tag> 0x00 <tag> -> <digest> (utf-8)
//! cf "manifests"      <repo> 0x00 <digest>                -> ManifestLink (json)
//! cf "manifest_bytes" <digest>                            -> exact manifest bytes as pushed
//! cf "blobs"          <digest>                            -> BlobRecord (json)
//! cf "repo_blobs"     <repo> 0x00 <digest>                -> RepoBlobLink (json)
//! cf "referrers"      <repo> 0x00 <subject> 0x00 <digest> -> referrer Descriptor (json)
//! cf "uploads"        <upload id>                         -> UploadRecord (json)
//!
//! reverse indexes, written in the same batch as the rows they mirror:
//! cf "blob_links"       <digest> 0x00 <repo>                     -> ""  (of repo_blobs)
//! cf "manifest_refs"    <target> 0x00 <repo> 0x00 <manifest>     -> ""  (blobs and child
//!                                                                        manifests a manifest
//!                                                                        references)
//! cf "manifest_holders" <digest> 0x00 <repo>                     -> ""  (of manifests)
//! cf "tag_targets"      <repo> 0x00 <digest> 0x00 <tag>          -> ""  (of tags)
//! cf "namespace_owners" <owner> 0x00 <namespace>                 -> ""  (of namespaces, v2)
//! cf "policy_holders"   <policy> 0x00 <account>                  -> ""  (of accounts'
//!                                                                        policies, v2)
//!
//! maintenance:
//! cf "quarantine"       <at ms, 16 hex> 0x00 <seq>              -> QuarantineRecord (json)
//! cf "maintenance"      <report name>                           -> last report (json)
//!
//! access (issue #5; records defined in engine/src/accounts/ and registry/namespaces.rs):
//! cf "namespaces"       <namespace>                             -> NamespaceRecord (json)
//! cf "accounts"         <account name>                          -> AccountRecord (json)
//! cf "policies"         <policy name>                           -> PolicyRecord (json)
//! cf "temp_credentials" <temporary user name>                   -> TempCredentialRecord (json)
//! cf "instance"         <key name>                              -> instance secrets (token key)
//!                       format-version                          -> u32, little-endian (4 bytes)
//! cf "audit"            <at ms, 16 hex> 0x00 <seq>              -> AuditRecord (json)
//!
//! webhook triggers (issue #10, v4; records defined in engine/src/triggers/):
//! cf "triggers"              <repo> 0x00 <trigger id>                   -> TriggerRecord (json)
//! cf "trigger_events"        <repo> 0x00 <!base, 16 hex>           -> EventRow (json: the tag
//!                                                                   event and one slot per
//!                                                                   trigger; record seq =
//!                                                                   base + slot; newest first)
//! cf "trigger_records"       <repo> 0x00 <trigger id> 0x00 <!seq, 16 hex>
//!                                                                -> DeliveryRecord (json; only
//!                                                                   records attempted or
//!                                                                   redelivered: the rest are
//!                                                                   their event's slot)
//! cf "trigger_outbox"        <due ms, 16 hex> 0x00 <seq, 16 hex>   -> OutboxEntry (json: event
//!                                                                   base and slots to deliver)
//! cf "trigger_record_times"  <base, 16 hex>                         -> EventRef (json; the
//!                                                                   retention sweep's order)
//! cf "instance"              trigger-seq | trigger-outbox-len | trigger-overflowed
//!                                                                -> u64, little-endian
//! ```
//!
//! The reverse indexes exist so that garbage collection can re-check "does anything still
//! reference this?" inside one metadata writer job with a prefix probe instead of a scan of
//! every manifest, and so that deleting a manifest finds its tags without scanning the
//! repository's tags. `berth fsck` recomputes them from the rows they mirror.
//!
//! Why 0x00 as the separator: repository names, tags and digests never contain it and it sorts
//! below every byte they can contain, so `<repo> 0x00` is a prefix that selects exactly one
//! repository's rows, in the lexical order of what follows (`a` sorts before `a/b`, and
//! `a 0x00 …` before `a/b 0x00 …`). A namespace is the first component of a repository name,
//! so a later `namespaces` family keys on that component without rewriting these keys.
//!
//! Tags are listed in "lexical order (i.e. case-insensitive alphanumeric order)", as the
//! distribution spec puts it, so a tag's key leads with its ASCII-lowercased form and then the
//! tag itself, which orders tags differing only in case and keeps the key unique.

use serde::{Deserialize, Serialize};

use crate::oci::{Digest, RepoName, Tag};

pub const CF_REPOS: &str = "repos";
pub const CF_TAGS: &str = "tags";
pub const CF_MANIFESTS: &str = "manifests";
pub const CF_MANIFEST_BYTES: &str = "manifest_bytes";
pub const CF_BLOBS: &str = "blobs";
pub const CF_REPO_BLOBS: &str = "repo_blobs";
pub const CF_REFERRERS: &str = "referrers";
pub const CF_UPLOADS: &str = "uploads";
pub const CF_BLOB_LINKS: &str = "blob_links";
pub const CF_MANIFEST_REFS: &str = "manifest_refs";
pub const CF_MANIFEST_HOLDERS: &str = "manifest_holders";
pub const CF_TAG_TARGETS: &str = "tag_targets";
pub const CF_QUARANTINE: &str = "quarantine";
pub const CF_MAINTENANCE: &str = "maintenance";
pub const CF_NAMESPACES: &str = "namespaces";
pub const CF_ACCOUNTS: &str = "accounts";
pub const CF_POLICIES: &str = "policies";
pub const CF_TEMP_CREDENTIALS: &str = "temp_credentials";
pub const CF_INSTANCE: &str = "instance";
pub const CF_AUDIT: &str = "audit";
pub const CF_NAMESPACE_OWNERS: &str = "namespace_owners";
pub const CF_POLICY_HOLDERS: &str = "policy_holders";
pub const CF_TRIGGERS: &str = "triggers";
pub const CF_TRIGGER_RECORDS: &str = "trigger_records";
pub const CF_TRIGGER_OUTBOX: &str = "trigger_outbox";
pub const CF_TRIGGER_RECORD_TIMES: &str = "trigger_record_times";
pub const CF_TRIGGER_EVENTS: &str = "trigger_events";

pub const COLUMN_FAMILIES: [&str; 27] = [
    CF_REPOS,
    CF_TAGS,
    CF_MANIFESTS,
    CF_MANIFEST_BYTES,
    CF_BLOBS,
    CF_REPO_BLOBS,
    CF_REFERRERS,
    CF_UPLOADS,
    CF_BLOB_LINKS,
    CF_MANIFEST_REFS,
    CF_MANIFEST_HOLDERS,
    CF_TAG_TARGETS,
    CF_QUARANTINE,
    CF_MAINTENANCE,
    CF_NAMESPACES,
    CF_ACCOUNTS,
    CF_POLICIES,
    CF_TEMP_CREDENTIALS,
    CF_INSTANCE,
    CF_AUDIT,
    CF_NAMESPACE_OWNERS,
    CF_POLICY_HOLDERS,
    CF_TRIGGERS,
    CF_TRIGGER_RECORDS,
    CF_TRIGGER_OUTBOX,
    CF_TRIGGER_RECORD_TIMES,
    CF_TRIGGER_EVENTS,
];

/// The metadata format this binary writes. A store is opened only at this version: an older
/// one is migrated forward first (`engine/src/migrate.rs`), a newer one is refused.
///
/// ```text
/// 0  before versioning: no reverse indexes (blob_links, manifest_refs, manifest_holders,
///    tag_targets)
/// 1  the reverse indexes, written in the same batch as the rows they mirror
/// 2  namespace_owners and policy_holders, so that no writer job scans every namespace (the
///    per-owner limit) or every account (deleting a policy)
/// 3  webhook triggers: triggers, trigger_records, trigger_outbox, trigger_record_times (new,
///    empty families; a binary of version 2 cannot open a store that has them)
/// 4  trigger events: one trigger_events row per tag event holds what every trigger made of
///    it; trigger_records keeps only records that were attempted or redelivered; outbox rows
///    name an event and the triggers (slots) still to deliver; trigger_record_times is keyed
///    by event
/// ```
pub const FORMAT_VERSION: u32 = 4;

/// Key of the format version in `CF_INSTANCE`.
pub const FORMAT_VERSION_KEY: &[u8] = b"format-version";

/// Families whose rows mean a store holds data (one without a version row is then version 0).
pub const DATA_FAMILIES: [&str; 6] = [
    CF_REPOS,
    CF_MANIFESTS,
    CF_BLOBS,
    CF_UPLOADS,
    CF_NAMESPACES,
    CF_ACCOUNTS,
];

const SEP: u8 = 0x00;

/// `<a> 0x00 <b>`: the key of a two-part index row (`namespace_owners`, `policy_holders`).
pub fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut key = pair_prefix(a);
    key.extend_from_slice(b.as_bytes());
    key
}

/// `<a> 0x00`: the prefix of `a`'s rows in a two-part index.
pub fn pair_prefix(a: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + 1);
    key.extend_from_slice(a.as_bytes());
    key.push(SEP);
    key
}

/// `<repo> 0x00`: the prefix of every row that belongs to one repository.
pub fn repo_prefix(repo: &RepoName) -> Vec<u8> {
    let mut key = Vec::with_capacity(repo.as_str().len() + 1);
    key.extend_from_slice(repo.as_str().as_bytes());
    key.push(SEP);
    key
}

/// `<repo> 0x00 <part>`.
pub fn repo_key(repo: &RepoName, part: &str) -> Vec<u8> {
    let mut key = repo_prefix(repo);
    key.extend_from_slice(part.as_bytes());
    key
}

pub fn tag_key(repo: &RepoName, tag: &Tag) -> Vec<u8> {
    let mut key = repo_prefix(repo);
    key.extend_from_slice(&tag_sort_suffix(tag.as_str()));
    key
}

/// `<folded tag> 0x00 <tag>`: the part of a tag key after the repository prefix. Also the seek
/// position for `last`, which need not be a valid tag.
pub fn tag_sort_suffix(tag: &str) -> Vec<u8> {
    let mut suffix = Vec::with_capacity(tag.len() * 2 + 1);
    suffix.extend(tag.bytes().map(|b| b.to_ascii_lowercase()));
    suffix.push(SEP);
    suffix.extend_from_slice(tag.as_bytes());
    suffix
}

/// The tag in a tag key's suffix (see [`tag_sort_suffix`]).
pub fn tag_from_suffix(suffix: &[u8]) -> Option<&[u8]> {
    let at = suffix.iter().position(|b| *b == SEP)?;
    Some(&suffix[at + 1..])
}

pub fn manifest_key(repo: &RepoName, digest: &Digest) -> Vec<u8> {
    repo_key(repo, digest.as_str())
}

pub fn repo_blob_key(repo: &RepoName, digest: &Digest) -> Vec<u8> {
    repo_key(repo, digest.as_str())
}

/// `<repo> 0x00 <subject> 0x00`: every referrer of one subject in one repository.
pub fn referrers_prefix(repo: &RepoName, subject: &Digest) -> Vec<u8> {
    let mut key = repo_key(repo, subject.as_str());
    key.push(SEP);
    key
}

pub fn referrer_key(repo: &RepoName, subject: &Digest, referrer: &Digest) -> Vec<u8> {
    let mut key = referrers_prefix(repo, subject);
    key.extend_from_slice(referrer.as_str().as_bytes());
    key
}

/// `<digest> 0x00`: the prefix of every reverse-index row about one digest.
pub fn digest_prefix(digest: &Digest) -> Vec<u8> {
    let mut key = Vec::with_capacity(digest.as_str().len() + 1);
    key.extend_from_slice(digest.as_str().as_bytes());
    key.push(SEP);
    key
}

/// `<digest> 0x00 <repo>`: a blob link's or a manifest holder's reverse row.
pub fn digest_repo_key(digest: &Digest, repo: &RepoName) -> Vec<u8> {
    let mut key = digest_prefix(digest);
    key.extend_from_slice(repo.as_str().as_bytes());
    key
}

/// `<target> 0x00 <repo> 0x00`: every manifest of `repo` that references `target`.
pub fn manifest_refs_prefix(target: &Digest, repo: &RepoName) -> Vec<u8> {
    let mut key = digest_repo_key(target, repo);
    key.push(SEP);
    key
}

pub fn manifest_ref_key(target: &Digest, repo: &RepoName, manifest: &Digest) -> Vec<u8> {
    let mut key = manifest_refs_prefix(target, repo);
    key.extend_from_slice(manifest.as_str().as_bytes());
    key
}

/// `<repo> 0x00 <digest> 0x00`: every tag of `repo` pointing at `digest`.
pub fn tag_targets_prefix(repo: &RepoName, digest: &Digest) -> Vec<u8> {
    let mut key = repo_key(repo, digest.as_str());
    key.push(SEP);
    key
}

pub fn tag_target_key(repo: &RepoName, digest: &Digest, tag: &str) -> Vec<u8> {
    let mut key = tag_targets_prefix(repo, digest);
    key.extend_from_slice(tag.as_bytes());
    key
}

/// Splits `a 0x00 b` into `(a, b)` at the first separator.
pub fn split_once(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = key.iter().position(|b| *b == SEP)?;
    Some((&key[..at], &key[at + 1..]))
}

/// `<repo> 0x00 <trigger id> 0x00`: the attempted records of one trigger, newest first.
pub fn trigger_records_prefix(repo: &RepoName, trigger: &str) -> Vec<u8> {
    let mut key = repo_key(repo, trigger);
    key.push(SEP);
    key
}

/// The sequence number inverted, so that a forward scan is newest first.
fn inverted_seq(seq: u64) -> String {
    format!("{:016x}", u64::MAX - seq)
}

/// An attempted record's key: `<repo> 0x00 <trigger id> 0x00 <!seq>`.
pub fn trigger_record_key(repo: &RepoName, trigger: &str, seq: u64) -> Vec<u8> {
    let mut key = trigger_records_prefix(repo, trigger);
    key.extend_from_slice(inverted_seq(seq).as_bytes());
    key
}

/// A tag event's key: `<repo> 0x00 <!base>`, newest first within the repository. The event's
/// records have the sequence numbers `base .. base + slots`, one per trigger it concerned.
pub fn trigger_event_key(repo: &RepoName, base: u64) -> Vec<u8> {
    repo_key(repo, &inverted_seq(base))
}

/// The suffix (after `<repo> 0x00`) of a tag event's key.
pub fn trigger_event_suffix(base: u64) -> Vec<u8> {
    inverted_seq(base).into_bytes()
}

/// The base sequence number of a tag event's key suffix.
pub fn trigger_event_base(suffix: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(suffix).ok()?;
    (text.len() == 16)
        .then(|| {
            u64::from_str_radix(text, 16)
                .ok()
                .map(|inverted| u64::MAX - inverted)
        })
        .flatten()
}

/// An outbox row's key: due time first, so a scan from the start finds what is due; then the
/// sequence number of the row's first record.
pub fn trigger_outbox_key(due_ms: u64, seq: u64) -> Vec<u8> {
    format!("{due_ms:016x}\0{seq:016x}").into_bytes()
}

/// The due time of an outbox row's key.
pub fn trigger_outbox_due_ms(key: &[u8]) -> Option<u64> {
    let (due, _) = split_once(key)?;
    u64::from_str_radix(std::str::from_utf8(due).ok()?, 16).ok()
}

/// A retention-index row's key: the event's base sequence number, so the scan is oldest first.
pub fn trigger_record_time_key(seq: u64) -> Vec<u8> {
    format!("{seq:016x}").into_bytes()
}

/// Counters of the trigger outbox in `CF_INSTANCE` (u64, little-endian).
pub const TRIGGER_SEQ_KEY: &[u8] = b"trigger-seq";
pub const TRIGGER_OUTBOX_LEN_KEY: &[u8] = b"trigger-outbox-len";
pub const TRIGGER_OVERFLOWED_KEY: &[u8] = b"trigger-overflowed";

/// A quarantine row's key: time first, so the record reads as a log.
pub fn quarantine_key(at_ms: u64, seq: u64) -> Vec<u8> {
    format!("{at_ms:016x}\0{seq:08x}").into_bytes()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoRecord {
    pub created_at_ms: u64,
    /// Who may pull without credentials. Records from before visibility existed are PRIVATE.
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
}

/// PUBLIC repositories may be pulled anonymously; PRIVATE ones only by authorised accounts.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Visibility {
    Public,
    #[default]
    Private,
}

/// A namespace: the first component of repository names, with its settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamespaceRecord {
    /// The account that created it (counts against its namespace limit).
    pub owner: String,
    pub created_at_ms: u64,
    /// A push to a missing repository of this namespace creates it.
    pub auto_create_repo: bool,
    /// Visibility of repositories created by a push.
    pub default_visibility: Visibility,
}

/// A blob whose bytes are durable in the blob store and verified against its digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlobRecord {
    pub size: u64,
    pub created_at_ms: u64,
}

/// "Repository R may serve blob B": metadata, never a second copy of the bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoBlobLink {
    pub size: u64,
    pub linked_at_ms: u64,
}

/// A manifest as one repository holds it. The bytes live once in `manifest_bytes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestLink {
    pub media_type: String,
    pub size: u64,
    pub pushed_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
}

/// The persisted state of a resumable upload session.
///
/// `offset` bytes of the session's data file are durable (fsynced before the record was
/// written) and `hash_state` is the running digest over exactly those bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadRecord {
    pub repo: RepoName,
    pub offset: u64,
    pub algorithm: String,
    #[serde(with = "hex_bytes")]
    pub hash_state: Vec<u8>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// Set while one request appends to the session; other requests are refused meanwhile.
    /// A lease from an earlier process (another `boot_id`) is void: that writer is dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<UploadLease>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadLease {
    pub boot_id: String,
    pub taken_at_ms: u64,
}

/// A metadata row `berth fsck --repair` moved out of the way because it pointed at something
/// missing or corrupt. Kept so an operator can see, and if need be restore, what was removed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QuarantineRecord {
    pub at_ms: u64,
    pub column_family: String,
    /// The row's exact key bytes, hex encoded.
    #[serde(with = "hex_bytes")]
    pub key: Vec<u8>,
    #[serde(with = "hex_bytes")]
    pub value: Vec<u8>,
    pub reason: String,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).expect("valid repo name")
    }

    #[test]
    fn repository_prefixes_do_not_overlap() {
        // "a" must not select rows of "a/b" or "ab".
        let a = repo_prefix(&repo("a"));
        assert!(!repo_key(&repo("a/b"), "t").starts_with(&a));
        assert!(tag_key(&repo("a"), &Tag::parse("T").expect("tag")).starts_with(&a));
        assert!(!repo_key(&repo("ab"), "t").starts_with(&a));
        assert!(repo_key(&repo("a"), "t").starts_with(&a));
    }

    #[test]
    fn trigger_record_keys_sort_newest_first_and_give_their_seq_back() {
        let r = repo("ns/app");
        let old = trigger_record_key(&r, "t1", 7);
        let new = trigger_record_key(&r, "t1", 8);
        assert!(new < old);
        assert!(old.starts_with(&trigger_records_prefix(&r, "t1")));
        assert!(trigger_outbox_key(5, 9) < trigger_outbox_key(6, 1));
        assert_eq!(trigger_outbox_due_ms(&trigger_outbox_key(5, 9)), Some(5));
    }

    proptest! {
        // Key order within a repository is the case-insensitive order of the tags (ties
        // broken by the exact bytes), which is what the tags list promises and what `last`
        // pagination seeks on; and the tag comes back out of its key.
        #[test]
        fn tag_key_order_is_case_insensitive_tag_order(a in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}",
                                                       b in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}") {
            let r = repo("ns/app");
            let ka = tag_key(&r, &Tag::parse(&a).expect("tag"));
            let kb = tag_key(&r, &Tag::parse(&b).expect("tag"));
            let fold = |s: &str| (s.to_ascii_lowercase(), s.to_owned());
            prop_assert_eq!(ka.cmp(&kb), fold(&a).cmp(&fold(&b)));
            let prefix = repo_prefix(&r);
            prop_assert_eq!(tag_from_suffix(&ka[prefix.len()..]), Some(a.as_bytes()));
        }

        // Repositories sort in key order the way their names sort, so the catalog is a scan.
        #[test]
        fn repo_prefix_order_matches_name_order(a in "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,2}",
                                                b in "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,2}") {
            let ka = manifest_key(&repo(&a), &Digest::sha256_of(b"x"));
            let kb = manifest_key(&repo(&b), &Digest::sha256_of(b"x"));
            if a != b {
                prop_assert_eq!(ka.cmp(&kb), a.as_bytes().cmp(b.as_bytes()));
            }
        }
    }
}
