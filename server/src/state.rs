//! What every handler on one shard shares: the engine's handles, the configuration, access
//! control and the audit trail of this shard, and the way to the maintenance thread.
//!
//! Shard-local: built on the shard's executor and never sent to another thread (its caches
//! are `RefCell`s). What it shares with other shards is immutable (the configuration) or
//! owned and synchronised by the engine.

use std::rc::Rc;

use berth_engine::{Engine, Registry, Uploads};

use crate::auth::audit::Auditor;
use crate::auth::Auth;
use crate::config::Config;
use crate::maintenance::MaintenanceHandle;

pub struct ShardState {
    pub engine: Engine,
    /// `engine.registry()`, the handle most handlers use.
    pub registry: Registry,
    /// `engine.uploads()`.
    pub uploads: Uploads,
    pub config: Rc<Config>,
    pub maintenance: MaintenanceHandle,
    /// Access control; None when `auth.enabled` is false.
    pub auth: Option<Rc<Auth>>,
    /// The audit trail; None when access control is off.
    pub audit: Option<Rc<Auditor>>,
}
