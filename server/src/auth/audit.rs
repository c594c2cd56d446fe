//! The audit trail: every push, pull (of a manifest), delete, login (a token issued) and
//! change made through the management API is recorded with time, account (or anonymous),
//! source address, operation, repository, reference and result.
//!
//! Records are buffered per shard and written in batches (one metadata writer job per batch,
//! every `FLUSH_INTERVAL` or `BATCH_MAX` records), so a pull never waits for the audit write.
//! A crash can lose at most the last interval's records; the buffer is bounded: when it is
//! full a flush is started at once, and records beyond `BUFFER_MAX` are counted and dropped
//! with a warning rather than grow memory without bound.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use berth_engine::{Accounts, AuditRecord, Clock};
use http::{Method, StatusCode};

use crate::http::router::Endpoint;

const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
const BATCH_MAX: usize = 512;
const BUFFER_MAX: usize = 50_000;

pub struct Auditor {
    accounts: Accounts,
    clock: std::sync::Arc<dyn Clock>,
    buffer: RefCell<Vec<AuditRecord>>,
    dropped: Cell<u64>,
    closed: Cell<bool>,
    /// Never granted; closed by [`Auditor::close`] to wake the flusher.
    closing: glommio::sync::Semaphore,
}

impl Auditor {
    /// Starts the shard's flusher task; call on the shard's executor.
    pub fn start(accounts: Accounts, clock: std::sync::Arc<dyn Clock>) -> Rc<Auditor> {
        let auditor = Rc::new(Auditor {
            accounts,
            clock,
            buffer: RefCell::default(),
            dropped: Cell::new(0),
            closed: Cell::new(false),
            closing: glommio::sync::Semaphore::new(0),
        });
        let flusher = auditor.clone();
        glommio::spawn_local(async move {
            while !flusher.closed.get() {
                let tick = async {
                    glommio::timer::sleep(FLUSH_INTERVAL).await;
                    true
                };
                let closed = async {
                    let _ = flusher.closing.acquire(1).await;
                    false
                };
                if futures_lite::future::or(tick, closed).await {
                    flusher.flush().await;
                }
            }
        })
        .detach();
        auditor
    }

    /// Writes what is buffered and stops the flusher: the shard is stopping. Records of the
    /// requests that drained are kept.
    pub async fn close(&self) {
        self.closed.set(true);
        self.closing.close();
        self.flush().await;
    }

    /// Records the request if it is one the trail keeps.
    pub fn record(
        &self,
        method: &Method,
        endpoint: &Endpoint<'_>,
        path: &str,
        account: Option<String>,
        peer: Option<SocketAddr>,
        status: StatusCode,
    ) {
        let Some((operation, repository, reference)) = auditable(method, endpoint, path) else {
            return;
        };
        let result = match status.as_u16() {
            200..=399 => "ok".to_owned(),
            401 | 403 => "denied".to_owned(),
            code => format!("error {code}"),
        };
        let record = AuditRecord {
            at_ms: self.clock.now_ms(),
            account,
            source: peer.map(|p| p.ip().to_string()).unwrap_or_default(),
            operation,
            repository,
            reference,
            result,
            detail: None,
        };
        let mut buffer = self.buffer.borrow_mut();
        if buffer.len() >= BUFFER_MAX {
            self.dropped.set(self.dropped.get() + 1);
            return;
        }
        buffer.push(record);
    }

    async fn flush(&self) {
        loop {
            let batch: Vec<AuditRecord> = {
                let mut buffer = self.buffer.borrow_mut();
                let n = buffer.len().min(BATCH_MAX);
                buffer.drain(..n).collect()
            };
            if batch.is_empty() {
                break;
            }
            if let Err(e) = self.accounts.append_audit(batch).await {
                tracing::warn!(error = %e, "could not write audit records");
                break;
            }
        }
        let dropped = self.dropped.replace(0);
        if dropped > 0 {
            tracing::warn!(records = dropped, "audit buffer full: records dropped");
        }
    }
}

/// (operation, repository, reference) of the requests the trail keeps, from the route table's
/// endpoint; `path` is the request's own path, kept as it was asked for management calls.
fn auditable(
    method: &Method,
    endpoint: &Endpoint<'_>,
    path: &str,
) -> Option<(String, Option<String>, Option<String>)> {
    match *endpoint {
        Endpoint::Token => Some(("login".into(), None, None)),
        Endpoint::Manage(_) if *method != Method::GET && *method != Method::HEAD => {
            Some((format!("api {method} {path}"), None, None))
        }
        Endpoint::Manifest { name, reference } => {
            let operation = match *method {
                Method::GET => "pull",
                Method::PUT => "push",
                Method::DELETE => "delete",
                _ => return None,
            };
            Some((operation.into(), Some(name.into()), Some(reference.into())))
        }
        Endpoint::Blob { name, digest } if *method == Method::DELETE => {
            Some(("delete".into(), Some(name.into()), Some(digest.into())))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trail_keeps_pushes_pulls_deletes_logins_and_changes() {
        let kept = |method: Method, path: &str| {
            let endpoint = crate::http::router::route(&method, path).expect("a route");
            auditable(&method, &endpoint, path)
        };
        let m = |method: Method, path: &str| kept(method, path).map(|(op, ..)| op);
        assert_eq!(
            m(Method::GET, "/v2/ns/app/manifests/v1").as_deref(),
            Some("pull")
        );
        assert_eq!(
            m(Method::PUT, "/v2/ns/app/manifests/v1").as_deref(),
            Some("push")
        );
        assert_eq!(
            m(Method::DELETE, "/v2/ns/app/manifests/v1").as_deref(),
            Some("delete")
        );
        assert_eq!(
            m(Method::DELETE, "/v2/ns/app/blobs/sha256:ab").as_deref(),
            Some("delete")
        );
        assert_eq!(m(Method::GET, "/token").as_deref(), Some("login"));
        assert_eq!(
            m(Method::POST, "/api/v1/namespaces").as_deref(),
            Some("api POST /api/v1/namespaces")
        );
        // Blob reads, HEADs, uploads and reads of the management API are not kept.
        assert_eq!(m(Method::GET, "/v2/ns/app/blobs/sha256:ab"), None);
        assert_eq!(m(Method::HEAD, "/v2/ns/app/manifests/v1"), None);
        assert_eq!(m(Method::PATCH, "/v2/ns/app/blobs/uploads/x"), None);
        assert_eq!(m(Method::GET, "/api/v1/namespaces"), None);
        let (_, repo, reference) =
            kept(Method::GET, "/v2/a/b/c/manifests/sha256:00").expect("kept");
        assert_eq!(
            (repo.as_deref(), reference.as_deref()),
            (Some("a/b/c"), Some("sha256:00"))
        );
    }
}
