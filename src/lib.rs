//! Coffer: a key-management service whose keys live in a hardware security module.
//!
//! Layers (see `docs/architecture.md`): `app` composes; `http` speaks HTTP and
//! calls `service`; `service` orchestrates `hsm`, `store`, `crypto`, `audit` and `authz`.

#![recursion_limit = "256"]

pub mod app;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod backup;
pub mod cache;
pub mod catalogue;
pub mod cli;
pub mod clock;
pub mod crypto;
pub mod dev;
pub mod hsm;
pub mod http;
pub mod ids;
pub mod mcp;
pub mod service;
pub mod store;

#[cfg(test)]
mod layering;
