//! The GitHub side: pull_request events in our own types, the pure decision, the sticky PR
//! comment, and the few REST calls the action needs.

pub mod api;
pub mod comment;
pub mod decide;
pub mod event;
