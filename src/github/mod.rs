//! The GitHub side: webhook payloads and pull_request events in our own types, the pure
//! decision, the sticky PR comment, and the few REST calls eden makes (failures typed).

pub mod api;
pub mod comment;
pub mod decide;
pub mod error;
pub mod event;
pub mod ids;
pub mod payload;
