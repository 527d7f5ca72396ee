//! Trackway's domain: what MLflow's tracking API talks about, with no I/O.
//!
//! - [`entities`]: experiments, runs, metrics and the rest, serialised exactly as MLflow's REST
//!   API prints them, so the HTTP layer can hand them to `serde_json` unchanged.
//! - [`error`]: MLflow's `error_code` values and the single place that maps them to HTTP statuses.
//! - [`validation`]: MLflow's limits and input rules, with its messages.
//! - [`paths`]: client-supplied artifact paths, checked and normalised before any storage sees
//!   them.
//! - [`search`]: the filter and `order_by` grammar of MLflow's search endpoints, and page tokens.
//!
//! Every other crate depends on this one; it depends on nothing of Trackway's.

pub mod entities;
pub mod error;
pub mod paths;
pub mod search;
pub mod validation;

pub use error::{Error, ErrorCode, Result};
