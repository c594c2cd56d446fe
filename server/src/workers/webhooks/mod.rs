//! Webhook delivery (issue #10): the pieces a delivery shard uses to POST an event to the URLs a
//! repository configured.
//!
//! - `destination`: what a webhook URL may be (schemes, ports, no credentials) and which
//!   addresses it must not reach (server-side request forgery); pure, no I/O.
//! - `payload`: the bodies (the model registry's JSON, CloudEvents) and Standard Webhooks
//!   signatures; pure.
//! - `delivery`: the delivery shard itself — its thread and executor, the loop over the outbox,
//!   per-destination limits and circuit breakers, retry backoff.
//! - `client`: the HTTP/HTTPS client that runs on the delivery shard's executor, resolves off the
//!   reactor, connects only to checked addresses and bounds every attempt in time and bytes.
//!
//! Invariant: nothing here waits on a request shard, and no request shard waits on this.
pub mod client;
pub mod delivery;
pub mod destination;
pub mod payload;
