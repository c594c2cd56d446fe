//! tags-list: listing a repository with many tags, whole or in pages.
//!
//! Setup pushes one small image and tags it `--tags` times (`t000000`, `t000001`, …, sorted as
//! numbers and as strings alike). One operation lists every tag: a single `GET /tags/list`
//! (following `Link` should the server page anyway), or pages of `--page-size` following each
//! `Link: <…>; rel="next"`. The operation checks that the tags seen are exactly the tags pushed,
//! each once, and that no page is larger than asked.

use serde_json::json;

use crate::client::Failure;
use crate::fixtures::{push_image, ManifestFormat, Rng};
use crate::registry;
use crate::runner::{Setup, Worker};

use super::{Params, Unsupported, STREAM_IMAGES};

#[derive(clap::Args, Clone, Debug)]
pub struct TagsListArgs {
    /// Tags in the repository.
    #[arg(long, default_value_t = 5000)]
    pub tags: usize,
    /// List in pages of this many tags (`?n=`), following `Link` headers [default: one
    /// request for the whole list].
    #[arg(long)]
    pub page_size: Option<usize>,
}

impl TagsListArgs {
    pub fn params(&self) -> Params {
        let paging = match self.page_size {
            None => "full".to_owned(),
            Some(n) => format!("n={n}"),
        };
        Params::new(
            format!("tags={} {paging}", self.tags),
            json!({ "tags": self.tags, "page_size": self.page_size }),
        )
    }
}

fn tag_name(i: usize) -> String {
    format!("t{i:06}")
}

pub struct TagsList {
    repo: String,
    /// Every tag pushed, sorted.
    expected: Vec<String>,
    page_size: Option<usize>,
}

pub async fn setup(args: &TagsListArgs, setup: &Setup) -> anyhow::Result<TagsList> {
    anyhow::ensure!(args.tags > 0, "--tags must be at least 1");
    anyhow::ensure!(args.page_size != Some(0), "--page-size must be at least 1");
    let repo = format!("{}/tagged", setup.prefix);
    let mut conn = setup.conn();
    let mut rng = Rng::derive(setup.seed, STREAM_IMAGES);
    let image = push_image(
        &mut conn,
        &repo,
        &tag_name(0),
        ManifestFormat::Oci,
        &[4096],
        &mut rng,
    )
    .await
    .map_err(|failure| anyhow::anyhow!("setup failed: {failure}"))?;
    setup
        .run_jobs(args.tags - 1, |mut conn, i| {
            let (repo, image) = (&repo, &image);
            async move {
                let tag = tag_name(i + 1);
                let result = registry::put_manifest(&mut conn, repo, &tag, &image.manifest).await;
                (conn, result)
            }
        })
        .await?;
    if args.page_size.is_some() {
        check_pagination(&mut conn, &repo).await?;
    }
    Ok(TagsList {
        repo,
        expected: (0..args.tags).map(tag_name).collect(),
        page_size: args.page_size,
    })
}

/// Refuses to time paginated listing on a registry that ignores `n` (CNCF Distribution 2.8
/// does for tags; pagination came in 3.0): every page would be the whole list, so the numbers
/// would measure something else.
async fn check_pagination(conn: &mut crate::client::Conn, repo: &str) -> anyhow::Result<()> {
    let path = format!("/v2/{repo}/tags/list?n=1");
    let (tags, _next) = registry::list_tags(conn, repo, &path)
        .await
        .map_err(|failure| anyhow::anyhow!("setup failed: {failure}"))?;
    if tags.len() > 1 {
        return Err(Unsupported(format!(
            "GET {path} returned {} tags: the registry ignores n on tags lists",
            tags.len()
        ))
        .into());
    }
    Ok(())
}

impl TagsList {
    pub async fn op(&self, worker: &mut Worker) -> Result<(), Failure> {
        let first = match self.page_size {
            None => format!("/v2/{}/tags/list", self.repo),
            Some(n) => format!("/v2/{}/tags/list?n={n}", self.repo),
        };
        // A server that keeps sending `Link` must not hold the worker forever.
        let pages_max = self.expected.len() / self.page_size.unwrap_or(1).max(1) + 2;
        let mut seen = Vec::with_capacity(self.expected.len());
        let mut path = Some(first.clone());
        let mut pages = 0;
        while let Some(current) = path {
            pages += 1;
            if pages > pages_max {
                return Err(Failure::new(
                    &http::Method::GET,
                    &current,
                    format!(
                        "more than {pages_max} pages for {} tags",
                        self.expected.len()
                    ),
                ));
            }
            let (tags, next) = registry::list_tags(&mut worker.conn, &self.repo, &current).await?;
            if let Some(n) = self.page_size {
                if tags.len() > n {
                    return Err(Failure::new(
                        &http::Method::GET,
                        &current,
                        format!("a page of {} tags, asked for at most {n}", tags.len()),
                    ));
                }
            }
            seen.extend(tags);
            path = next;
        }
        seen.sort_unstable();
        if seen != self.expected {
            let missing = self
                .expected
                .iter()
                .filter(|t| seen.binary_search(t).is_err())
                .count();
            return Err(Failure::new(
                &http::Method::GET,
                &first,
                format!(
                    "listed {} tags in {pages} pages, expected {} ({missing} missing, the rest \
                     duplicated or unknown)",
                    seen.len(),
                    self.expected.len()
                ),
            ));
        }
        Ok(())
    }
}
