//! The process, the top layer: opens the engine once, starts the maintenance thread and one
//! glommio executor per shard, each with its own SO_REUSEPORT listener, and on SIGTERM/SIGINT
//! drains the shards, ends every connection task and closes the engine.
//!
//! **Architecture Invariant:** shards share no mutable memory. What they share is immutable
//! (config) or internally synchronised and owned by the engine (the RocksDB handle and the
//! metadata writer's queue). Cross-shard state is a RocksDB write.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_engine::{Accounts, Engine};
use futures_channel::oneshot;
use glommio::{LocalExecutorBuilder, Placement};

use crate::auth::Auth;
use crate::config::Config;
use crate::http::{serve_connection, ConnectionSettings, InFlight};
use crate::maintenance::{self, MaintenanceHandle};
use crate::state::ShardState;

/// How long the store may take to close once every shard has stopped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the registry's storage. Blocking; runs before any executor starts.
pub fn open_engine(config: &Config) -> anyhow::Result<Engine> {
    Ok(Engine::open(config.engine_options())?)
}

/// Runs the daemon until SIGTERM or SIGINT, then drains and returns.
pub fn serve(config: Config) -> anyhow::Result<()> {
    exit_on_panic();
    if let Some(file) = &config.test_clock_file {
        tracing::warn!(file = %file.display(), "test clock in use: time is moved by that file");
    }
    let engine = open_engine(&config)?;
    let orphans = engine
        .remove_orphan_upload_files()
        .context("removing upload files of dead requests")?;
    if orphans > 0 {
        tracing::info!(files = orphans, "removed upload files no session owns");
    }
    let addr_file = config.listen_addr_file();
    let _ = std::fs::remove_file(&addr_file);
    let access = if config.auth.enabled {
        Some(open_access(&config, engine.accounts())?)
    } else {
        tracing::info!("access control is off (auth.enabled = false): anyone may push and pull");
        None
    };

    let shard_count = config.shard_count();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config = Arc::new(config);
    let (maintenance_shard, maintenance) = maintenance::start(engine.clone(), config.clone())
        .context("starting the maintenance shard")?;
    let delivery = crate::workers::webhooks::delivery::start(engine.clone(), config.clone())
        .context("starting the webhook delivery shard")?;
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
        let (config, engine, maintenance, access) = (
            config.clone(),
            engine.clone(),
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
                    (engine, maintenance, access),
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
    delivery.stop();
    drop(access);
    if let Err(e) = engine.close(CLOSE_TIMEOUT) {
        // The WAL is synced and RocksDB's background work stopped either way; what is left
        // is a handle some task still holds, which the process exit releases.
        tracing::warn!(error = %e, "stopping without a clean close of the store");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The main account in place, and the token signing key.
fn open_access(config: &Config, accounts: &Accounts) -> anyhow::Result<(Accounts, Vec<u8>)> {
    let password = config
        .admin_password(true)?
        .context("no password for the main account")?;
    accounts
        .ensure_admin(&password)
        .context("creating the main account")?;
    let key = accounts
        .token_signing_key()
        .context("reading the token signing key")?;
    Ok((accounts.clone(), key))
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
    (engine, maintenance, access): (Engine, MaintenanceHandle, Option<(Accounts, Vec<u8>)>),
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
    let settings = ConnectionSettings {
        header_read_timeout_ms: config.server.header_read_timeout_ms,
        header_bytes_max: config.server.header_bytes_max,
        access_log: config.log.access_log,
        shard,
    };
    let ctx = Rc::new(ShardState {
        registry: engine.registry().clone(),
        uploads: engine.uploads().clone(),
        config: Rc::new((*config).clone()),
        maintenance,
        audit: access.as_ref().map(|(accounts, _)| {
            crate::auth::audit::Auditor::start(accounts.clone(), engine.clock().clone())
        }),
        auth: access.map(|(accounts, key)| {
            Rc::new(Auth::new(
                config.auth.clone(),
                accounts,
                engine.registry().clone(),
                &key,
                engine.clock().clone(),
            ))
        }),
        engine,
    });
    let in_flight = InFlight::default();
    let connections = Rc::new(std::cell::Cell::new(0usize));
    // Closed once requests have drained: every connection task (idle keep-alive ones too)
    // then ends, so none outlives the shard holding the engine's handles.
    let closing = Rc::new(glommio::sync::Semaphore::new(0));
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
                let (ctx, in_flight, connections, closing) = (
                    ctx.clone(),
                    in_flight.clone(),
                    connections.clone(),
                    closing.clone(),
                );
                connections.set(connections.get() + 1);
                glommio::spawn_local(async move {
                    futures_lite::future::or(
                        serve_connection(ctx, settings, in_flight, stream),
                        async {
                            // Never granted: resolves when the shard closes.
                            let _ = closing.acquire(1).await;
                        },
                    )
                    .await;
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
    closing.close();
    if let Some(audit) = &ctx.audit {
        audit.close().await;
    }
    // Let the connection tasks see the close and drop what they hold (bounded: each only has
    // to be polled once more).
    let deadline = Instant::now() + Duration::from_secs(5);
    while connections.get() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}
