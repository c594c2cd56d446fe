//! The process: opens storage once, starts one glommio executor per shard, each with its own
//! SO_REUSEPORT listener, and stops them on SIGTERM/SIGINT.
//!
//! **Architecture Invariant:** shards share no mutable memory. What they share is immutable
//! (config) or internally synchronised and owned by the engine (the RocksDB handle and the
//! metadata writer's queue). Cross-shard state is a RocksDB write.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_engine::accounts::{AccountOptions, Accounts};
use berth_engine::blob::BlobStore;
use berth_engine::meta::{Meta, MetaOptions};
use berth_engine::registry::{Registry, RegistryLimits};
use berth_engine::upload::{Admission, UploadLimits, Uploads};
use berth_engine::{Clock, SystemClock};
use futures_channel::oneshot;
use glommio::{LocalExecutorBuilder, Placement};

use crate::api::ShardContext;
use crate::auth::Auth;
use crate::config::Config;
use crate::http::{serve_connection, InFlight};
use crate::maintenance::{self, MaintenanceHandle};

/// File in the data directory holding the address the shards listen on, written once they
/// are listening (so scripts and tests can use `--listen 127.0.0.1:0`).
pub const LISTEN_ADDR_FILE: &str = "listen.addr";

/// Opens the registry's storage. Blocking; runs before any executor starts.
pub fn open_registry(config: &Config) -> anyhow::Result<Registry> {
    std::fs::create_dir_all(&config.storage.data_dir).with_context(|| {
        format!(
            "creating data directory {}",
            config.storage.data_dir.display()
        )
    })?;
    // glommio opens directories (for fsync) by absolute path only: a relative data directory,
    // such as the default `./berth-data`, made every push fail with EBADF.
    let data_dir = &std::fs::canonicalize(&config.storage.data_dir).with_context(|| {
        format!(
            "resolving data directory {}",
            config.storage.data_dir.display()
        )
    })?;
    let meta = Meta::open(
        &data_dir.join("meta"),
        &MetaOptions {
            write_queue_max: config.storage.meta_write_queue_max,
            write_group_max: config.storage.meta_write_group_max,
            block_cache_bytes: config.storage.meta_block_cache_bytes,
        },
    )
    .with_context(|| format!("opening metadata in {}", data_dir.display()))?;
    let store = BlobStore::open(data_dir)
        .with_context(|| format!("opening blob store in {}", data_dir.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let admission = if config.auth.enabled {
        Admission::Namespaced
    } else {
        Admission::Open
    };
    let uploads = Uploads::new(
        meta.clone(),
        store.clone(),
        clock.clone(),
        UploadLimits {
            blob_bytes_max: config.limits.blob_bytes_max,
            session_idle_ttl_ms: config.uploads.session_idle_ttl_s.saturating_mul(1000),
            write_buffer_bytes: config.storage.upload_write_buffer_bytes,
            sessions_max: config.uploads.sessions_max,
            min_free_bytes: config.storage.min_free_bytes,
        },
    )
    .with_admission(admission);
    Ok(Registry::new(
        meta,
        store,
        uploads,
        clock,
        RegistryLimits {
            manifest_bytes_max: config.limits.manifest_bytes_max,
            list_page_max: config.limits.list_page_max,
            referrers_max: config.limits.referrers_max,
        },
    ))
}

/// Runs the daemon until SIGTERM or SIGINT, then drains and returns.
pub fn serve(config: Config) -> anyhow::Result<()> {
    exit_on_panic();
    let registry = open_registry(&config)?;
    let orphans = registry
        .uploads()
        .remove_orphan_files()
        .context("removing upload files of dead requests")?;
    if orphans > 0 {
        tracing::info!(files = orphans, "removed upload files no session owns");
    }
    let addr_file = config.storage.data_dir.join(LISTEN_ADDR_FILE);
    let _ = std::fs::remove_file(&addr_file);
    let access = if config.auth.enabled {
        Some(open_access(&config, &registry)?)
    } else {
        tracing::info!("access control is off (auth.enabled = false): anyone may push and pull");
        None
    };

    let shard_count = config.shard_count();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config = Arc::new(config);
    let (maintenance_shard, maintenance) = maintenance::start(registry.clone(), config.clone())
        .context("starting the maintenance shard")?;
    let mut stops = Vec::with_capacity(shard_count);
    let mut handles = Vec::with_capacity(shard_count);
    let mut listen = config.server.listen;
    for shard in 0..shard_count {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel::<std::io::Result<SocketAddr>>();
        stops.push(stop_tx);
        let placement = if shard_count <= cpus {
            Placement::Fixed(shard)
        } else {
            Placement::Unbound
        };
        let (config, registry, maintenance, access) = (
            config.clone(),
            registry.clone(),
            maintenance.clone(),
            access.clone(),
        );
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("berth-shard-{shard}"))
            .io_memory(config.server.io_memory_bytes)
            .ring_depth(config.server.ring_depth)
            .spawn(move || async move {
                run_shard(
                    shard,
                    listen,
                    config,
                    (registry, maintenance, access),
                    bound_tx,
                    stop_rx,
                )
                .await
            })
            .map_err(std::io::Error::from)
            .with_context(|| format!("starting shard {shard}"))?;
        handles.push(handle);
        // Shard 0 binds first; with port 0 the others must join the port it got.
        let bound = bound_rx
            .recv()
            .context("shard stopped before listening")?
            .with_context(|| format!("shard {shard} binding {listen}"))?;
        listen = bound;
    }
    // Handlers first: once listen.addr exists, a supervisor may send SIGTERM at once, and it
    // must stop the daemon gracefully, not by the default action.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("installing signal handlers")?;
    std::fs::write(&addr_file, listen.to_string())
        .with_context(|| format!("writing {}", addr_file.display()))?;
    tracing::info!(%listen, shards = shard_count, data_dir = %config.storage.data_dir.display(), "berth is listening");

    std::thread::Builder::new()
        .name("berth-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                tracing::info!(signal, "stopping: no new connections, draining requests");
                for stop in stops {
                    let _ = stop.send(());
                }
            }
        })
        .context("starting signal thread")?;

    drop(maintenance);
    for handle in handles {
        handle
            .join()
            .map_err(|e| anyhow::anyhow!("shard failed: {e}"))?;
    }
    maintenance_shard.stop();
    // Tasks of the stopped executors may still hold registry handles, so the store is not
    // closed by dropping them; stop its background work before the process exits.
    registry.meta().shut_down();
    tracing::info!("stopped");
    Ok(())
}

/// The accounts store with the main account in place, and the token signing key.
fn open_access(config: &Config, registry: &Registry) -> anyhow::Result<(Accounts, Vec<u8>)> {
    let accounts = Accounts::new(
        registry.meta().clone(),
        registry.clock().clone(),
        AccountOptions::default(),
    );
    let password = admin_password(config)?;
    accounts
        .ensure_admin(&password)
        .context("creating the main account")?;
    let key = accounts
        .token_signing_key()
        .context("reading the token signing key")?;
    Ok((accounts, key))
}

/// The main account's password: from the config (or `BERTH_ADMIN_PASSWORD`, which the config
/// reads), else from `<data_dir>/admin.password`, generated there (mode 0600) at the first
/// start. The password itself is never logged.
fn admin_password(config: &Config) -> anyhow::Result<String> {
    if !config.auth.admin_password.is_empty() {
        return Ok(config.auth.admin_password.clone());
    }
    let file = config.storage.data_dir.join("admin.password");
    if let Ok(text) = std::fs::read_to_string(&file) {
        let text = text.trim();
        if !text.is_empty() {
            return Ok(text.to_owned());
        }
    }
    let password = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&file)
            .with_context(|| format!("creating {}", file.display()))?;
        out.write_all(password.as_bytes())?;
        out.sync_all()?;
    }
    tracing::info!(
        file = %file.display(),
        "generated a password for the main account `admin`; it is in this file (mode 0600)"
    );
    Ok(password)
}

/// A panic is a bug. A shard that died would leave the daemon half alive (its listener gone,
/// its tasks dropped mid-request), so any panic on any thread ends the process, to be
/// restarted by its supervisor with state recovered from disk.
fn exit_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(panic = %info, "a thread panicked; exiting");
        default_hook(info);
        std::process::exit(101);
    }));
}

async fn run_shard(
    shard: usize,
    listen: SocketAddr,
    config: Arc<Config>,
    (registry, maintenance, access): (Registry, MaintenanceHandle, Option<(Accounts, Vec<u8>)>),
    bound: std::sync::mpsc::Sender<std::io::Result<SocketAddr>>,
    mut stop: oneshot::Receiver<()>,
) {
    // glommio's listener sets SO_REUSEPORT, so every shard binds the same address and the
    // kernel spreads connections across them.
    let listener = match glommio::net::TcpListener::bind(listen) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = bound.send(Err(e.into()));
            return;
        }
    };
    let _ = bound.send(listener.local_addr().map_err(std::io::Error::from));
    let ctx = Rc::new(ShardContext {
        registry: registry.clone(),
        config: Rc::new((*config).clone()),
        shard,
        maintenance,
        audit: access
            .as_ref()
            .map(|(accounts, _)| crate::auth::audit::Auditor::start(accounts.clone())),
        auth: access.map(|(accounts, key)| {
            Rc::new(Auth::new(
                config.auth.clone(),
                accounts,
                registry.clone(),
                &key,
            ))
        }),
    });
    if shard == 0 {
        spawn_upload_expiry(&ctx);
    }
    let in_flight = InFlight::default();
    let connections = Rc::new(std::cell::Cell::new(0usize));
    loop {
        if connections.get() >= config.server.connections_per_shard_max {
            glommio::timer::sleep(Duration::from_millis(5)).await;
            if stop.try_recv().map_or(true, |s| s.is_some()) {
                break;
            }
            continue;
        }
        let next = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            let _ = (&mut stop).await;
            None
        })
        .await;
        match next {
            None => break,
            Some(Ok(stream)) => {
                // hyper sends a response's head and a small body in separate writes; with
                // Nagle on, the body waits for the client's delayed ACK (~40 ms per small
                // blob GET, found by the bench).
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
                let (ctx, in_flight, connections) =
                    (ctx.clone(), in_flight.clone(), connections.clone());
                connections.set(connections.get() + 1);
                glommio::spawn_local(async move {
                    serve_connection(ctx, in_flight, stream).await;
                    connections.set(connections.get() - 1);
                })
                .detach();
            }
            Some(Err(e)) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(shard, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    let deadline = Instant::now() + Duration::from_millis(config.server.shutdown_grace_ms);
    while in_flight.count() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    if in_flight.count() > 0 {
        tracing::warn!(
            shard,
            requests = in_flight.count(),
            "grace period over; abandoning requests"
        );
    }
}

/// Shard 0 removes idle upload sessions, expired temporary credentials and audit records
/// past their retention on a timer.
fn spawn_upload_expiry(ctx: &Rc<ShardContext>) {
    let uploads = ctx.registry.uploads().clone();
    let accounts = ctx.auth.as_ref().map(|a| a.accounts().clone());
    let retention_ms = ctx
        .config
        .auth
        .audit_retention_days
        .saturating_mul(86_400_000);
    let interval = Duration::from_secs(ctx.config.uploads.expiry_sweep_interval_s.max(1));
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(interval).await;
            match uploads.expire_idle().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "removed idle upload sessions"),
                Err(e) => tracing::warn!(error = %e, "upload expiry sweep failed"),
            }
            let Some(accounts) = &accounts else {
                continue;
            };
            if let Err(e) = accounts.expire_temporary().await {
                tracing::warn!(error = %e, "temporary credential expiry failed");
            }
            let cutoff = crate::auth::now_ms().saturating_sub(retention_ms);
            match accounts.expire_audit(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(records = n, "removed audit records past retention"),
                Err(e) => tracing::warn!(error = %e, "audit retention sweep failed"),
            }
        }
    })
    .detach();
}
