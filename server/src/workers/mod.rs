//! Background shards: work that request shards hand off and never wait on.

pub mod webhooks;
