//! tag-push: the manifest and tag write path alone, where a registry with webhook triggers
//! writes its delivery records beside the tag.
//!
//! Setup pushes one small image (a config and one 4 KiB layer) into `<prefix>/hooks` and, with
//! `--triggers N`, creates N `ALL` triggers on that repository pointing at `--receiver` (Berth's
//! `POST /api/v1/repositories/{repo}/triggers`; the registry must allow private destinations
//! for a loopback receiver). Each operation PUTs that image's manifest under a new tag
//! `t<worker>-<n>` and expects 201, so every operation is one tag write and, per trigger, one
//! event. Delivery is not waited for: that the push does not wait on it is what is measured
//! (`scripts/webhook-bench.sh`).

use bytes::Bytes;
use http::{header, Method, StatusCode};
use serde_json::json;

use crate::client::{Conn, Failure};
use crate::fixtures::{push_image, Image, ManifestFormat, Rng};
use crate::registry;
use crate::runner::{Setup, Worker};

use super::{Params, STREAM_IMAGES};

/// The one layer of the image whose manifest is tagged again and again.
const LAYER_BYTES: u64 = 4096;

/// Largest trigger-creation answer read, to quote it in a failure.
const TRIGGER_BODY_BYTES_MAX: usize = 64 << 10;

#[derive(clap::Args, Clone, Debug)]
pub struct TagPushArgs {
    /// Webhook triggers (type ALL, events push) created on the repository before the timed
    /// phase.
    #[arg(long, default_value_t = 0)]
    pub triggers: usize,
    /// URL the triggers deliver to; required with --triggers.
    #[arg(long)]
    pub receiver: Option<String>,
    /// Manifest schema of the image.
    #[arg(long, value_enum, default_value = "oci")]
    pub format: ManifestFormat,
}

impl TagPushArgs {
    pub fn params(&self) -> Params {
        Params::new(
            format!("triggers={} {}", self.triggers, self.format.name()),
            json!({
                "triggers": self.triggers,
                "receiver": self.receiver,
                "format": self.format.name(),
            }),
        )
    }
}

pub struct TagPush {
    image: Image,
}

pub async fn setup(args: &TagPushArgs, setup: &Setup) -> anyhow::Result<TagPush> {
    let receiver = match (args.triggers, &args.receiver) {
        (0, _) => None,
        (_, Some(receiver)) => Some(receiver.as_str()),
        (_, None) => anyhow::bail!("--triggers needs --receiver URL"),
    };
    let repo = format!("{}/hooks", setup.prefix);
    let mut conn = setup.conn();
    let mut rng = Rng::derive(setup.seed, STREAM_IMAGES);
    let image = push_image(
        &mut conn,
        &repo,
        "base",
        args.format,
        &[LAYER_BYTES],
        &mut rng,
    )
    .await
    .map_err(|failure| anyhow::anyhow!("setup failed: {failure}"))?;
    if let Some(receiver) = receiver {
        for i in 0..args.triggers {
            create_trigger(&mut conn, &repo, &format!("bench-{i}"), receiver)
                .await
                .map_err(|failure| anyhow::anyhow!("setup failed: {failure}"))?;
        }
    }
    Ok(TagPush { image })
}

/// `POST /api/v1/repositories/<repo>/triggers` of one `ALL` trigger to `receiver` → 201.
async fn create_trigger(
    conn: &mut Conn,
    repo: &str,
    name: &str,
    receiver: &str,
) -> Result<(), Failure> {
    let method = Method::POST;
    let path = format!("/api/v1/repositories/{repo}/triggers");
    let body = json!({ "name": name, "url": receiver, "trigger_type": "ALL" }).to_string();
    let headers = [(header::CONTENT_TYPE, "application/json")];
    let response = conn
        .send(method.clone(), &path, &headers, Bytes::from(body))
        .await?;
    let status = response.status();
    let body = conn
        .collect(response.into_body(), TRIGGER_BODY_BYTES_MAX)
        .await
        .map_err(|e| Failure::new(&method, &path, e))?;
    if status != StatusCode::CREATED {
        let excerpt = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(Failure::new(
            &method,
            &path,
            format!("status {status}, expected 201 Created; {excerpt}"),
        ));
    }
    Ok(())
}

impl TagPush {
    pub async fn op(&self, worker: &mut Worker) -> Result<(), Failure> {
        let tag = format!("t{}-{}", worker.id, worker.ops_started);
        let image = &self.image;
        registry::put_manifest(&mut worker.conn, &image.repo, &tag, &image.manifest).await
    }
}
