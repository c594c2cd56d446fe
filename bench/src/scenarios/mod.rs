//! The scenarios: what each one pushes in its setup and what one operation of its timed phase
//! does. One file per family; this module is the list of them.
//!
//! | scenario      | one operation                                                  | default c |
//! |---------------|----------------------------------------------------------------|-----------|
//! | push-mono     | POST, PUT ?digest= with a 64 MiB blob                          | 4         |
//! | push-chunked  | POST, 8 × PATCH of 8 MiB, PUT ?digest=                         | 4         |
//! | pull-blob     | GET a blob (4 KiB by default), hashed against its digest       | 64 (16 from 16 MiB) |
//! | pull-range    | GET a random 1 MiB range of a 64 MiB blob, compared byte by byte | 16      |
//! | manifest-get  | GET a manifest by tag with docker's Accept header              | 64        |
//! | manifest-head | HEAD the same                                                  | 64        |
//! | tags-list     | list all 5,000 tags of a repository, whole or in pages (`n`)   | 16        |
//! | image-pull    | manifest by tag, config, every layer of one shared image       | 64        |
//! | mixed         | 95% image pulls / 5% derived-image pushes over 100 repositories | 64       |
//! | tag-push      | PUT one image's manifest under a new tag (`--triggers`: webhooks) | 16       |

pub mod image;
pub mod manifests;
pub mod mixed;
pub mod pull;
pub mod push;
pub mod tag_push;
pub mod tags;

use serde_json::Value;

use crate::client::Failure;
use crate::runner::{Setup, Worker};

/// Random streams (see `Rng::derive`), so that no two purposes share content.
const STREAM_PUSH: u64 = 1;
const STREAM_PULL: u64 = 1 << 20;
const STREAM_IMAGES: u64 = 2 << 20;

/// A scenario with its arguments.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum ScenarioArgs {
    /// Monolithic blob uploads: POST /blobs/uploads/, then PUT ?digest= with the whole blob.
    PushMono(push::PushMonoArgs),
    /// Chunked blob uploads: POST, several PATCH chunks, then PUT ?digest=.
    PushChunked(push::PushChunkedArgs),
    /// Whole-blob downloads, each body hashed against its digest.
    PullBlob(pull::PullBlobArgs),
    /// Random byte ranges of one blob (206 Partial Content), compared byte by byte.
    PullRange(pull::PullRangeArgs),
    /// GET a manifest by tag with docker's Accept header.
    ManifestGet(manifests::ManifestArgs),
    /// HEAD a manifest by tag with docker's Accept header.
    ManifestHead(manifests::ManifestArgs),
    /// List every tag of a repository with many tags, whole or in pages.
    TagsList(tags::TagsListArgs),
    /// Concurrent clients each pulling the same multi-layer image: manifest, config, layers.
    ImagePull(image::ImagePullArgs),
    /// Pull-heavy traffic with some pushes over many repositories.
    Mixed(mixed::MixedArgs),
    /// PUT one small image's manifest under a new tag each time, optionally with webhook
    /// triggers on the repository.
    TagPush(tag_push::TagPushArgs),
}

/// A scenario the registry under test does not support, found out in setup. Not a failure of
/// the registry or of the run: the report says so instead of timing something else.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unsupported by this registry: {}", self.0)
    }
}

impl std::error::Error for Unsupported {}

/// How a scenario's arguments appear in reports: a short text for the label and the values.
pub struct Params {
    pub text: String,
    pub values: Value,
}

impl Params {
    pub fn new(text: String, values: Value) -> Params {
        Params { text, values }
    }
}

impl ScenarioArgs {
    pub fn name(&self) -> &'static str {
        match self {
            ScenarioArgs::PushMono(_) => "push-mono",
            ScenarioArgs::PushChunked(_) => "push-chunked",
            ScenarioArgs::PullBlob(_) => "pull-blob",
            ScenarioArgs::PullRange(_) => "pull-range",
            ScenarioArgs::ManifestGet(_) => "manifest-get",
            ScenarioArgs::ManifestHead(_) => "manifest-head",
            ScenarioArgs::TagsList(_) => "tags-list",
            ScenarioArgs::ImagePull(_) => "image-pull",
            ScenarioArgs::Mixed(_) => "mixed",
            ScenarioArgs::TagPush(_) => "tag-push",
        }
    }

    /// The concurrency the targets are stated at.
    pub fn default_concurrency(&self) -> usize {
        match self {
            ScenarioArgs::PushMono(_) | ScenarioArgs::PushChunked(_) => 4,
            ScenarioArgs::PullBlob(args) => args.default_concurrency(),
            ScenarioArgs::PullRange(_) | ScenarioArgs::TagsList(_) | ScenarioArgs::TagPush(_) => 16,
            ScenarioArgs::ManifestGet(_)
            | ScenarioArgs::ManifestHead(_)
            | ScenarioArgs::ImagePull(_)
            | ScenarioArgs::Mixed(_) => 64,
        }
    }

    pub fn params(&self) -> Params {
        match self {
            ScenarioArgs::PushMono(args) => args.params(),
            ScenarioArgs::PushChunked(args) => args.params(),
            ScenarioArgs::PullBlob(args) => args.params(),
            ScenarioArgs::PullRange(args) => args.params(),
            ScenarioArgs::ManifestGet(args) | ScenarioArgs::ManifestHead(args) => args.params(),
            ScenarioArgs::TagsList(args) => args.params(),
            ScenarioArgs::ImagePull(args) => args.params(),
            ScenarioArgs::Mixed(args) => args.params(),
            ScenarioArgs::TagPush(args) => args.params(),
        }
    }

    /// The untimed phase: pushes what the timed phase needs.
    pub async fn setup(&self, setup: &Setup) -> anyhow::Result<Fixture> {
        Ok(match self {
            ScenarioArgs::PushMono(args) => {
                Fixture::Push(push::setup(args.size, None, args.pool, setup)?)
            }
            ScenarioArgs::PushChunked(args) => {
                Fixture::Push(push::setup(args.size, Some(args.chunk), args.pool, setup)?)
            }
            ScenarioArgs::PullBlob(args) => {
                Fixture::PullBlob(pull::setup_pull_blob(args, setup).await?)
            }
            ScenarioArgs::PullRange(args) => {
                Fixture::PullRange(pull::setup_pull_range(args, setup).await?)
            }
            ScenarioArgs::ManifestGet(args) => {
                Fixture::Manifests(manifests::setup(args, false, setup).await?)
            }
            ScenarioArgs::ManifestHead(args) => {
                Fixture::Manifests(manifests::setup(args, true, setup).await?)
            }
            ScenarioArgs::TagsList(args) => Fixture::TagsList(tags::setup(args, setup).await?),
            ScenarioArgs::ImagePull(args) => Fixture::ImagePull(image::setup(args, setup).await?),
            ScenarioArgs::Mixed(args) => Fixture::Mixed(mixed::setup(args, setup).await?),
            ScenarioArgs::TagPush(args) => Fixture::TagPush(tag_push::setup(args, setup).await?),
        })
    }
}

/// What a scenario's setup pushed, ready for the timed phase.
pub enum Fixture {
    Push(push::Push),
    PullBlob(pull::PullBlob),
    PullRange(pull::PullRange),
    Manifests(manifests::Manifests),
    TagsList(tags::TagsList),
    ImagePull(image::ImagePull),
    Mixed(mixed::Mixed),
    TagPush(tag_push::TagPush),
}

impl Fixture {
    /// One operation of the timed phase.
    pub async fn op(&self, worker: &mut Worker) -> Result<(), Failure> {
        match self {
            Fixture::Push(fixture) => fixture.op(worker).await,
            Fixture::PullBlob(fixture) => fixture.op(worker).await,
            Fixture::PullRange(fixture) => fixture.op(worker).await,
            Fixture::Manifests(fixture) => fixture.op(worker).await,
            Fixture::TagsList(fixture) => fixture.op(worker).await,
            Fixture::ImagePull(fixture) => fixture.op(worker).await,
            Fixture::Mixed(fixture) => fixture.op(worker).await,
            Fixture::TagPush(fixture) => fixture.op(worker).await,
        }
    }
}
