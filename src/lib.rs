//! eden: a preview environment for every pull request, on Amazon ECS.
//!
//! See docs/ARCHITECTURE.md for the code map and the invariants. The `testing` feature adds
//! the test machinery (`aws::instrument`, `aws::inject`, `proxy`); the shipped binary is built
//! without it (docs/testing.md).

pub mod action;
pub mod aws;
pub mod cancel;
pub mod cli;
pub mod collisions;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod github;
pub mod idle;
pub mod image;
pub mod names;
pub mod preview;
pub mod profile;
pub mod profile_store;
#[cfg(feature = "testing")]
pub mod proxy;
pub mod report;
pub mod server;
