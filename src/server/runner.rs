//! The job runner: a queued job → a PR run through `src/preview` (wired when it lands).

use std::sync::Arc;

use anyhow::anyhow;
use futures::future::BoxFuture;

use super::config::ServeConfig;
use super::github::Clients;
use super::job::Job;
use super::queue::{JobDone, JobError, JobRunner, Signals};
use crate::engine::Engine;

pub struct PreviewRunner {
    pub config: Arc<ServeConfig>,
    pub engine: Engine,
    pub github: Arc<Clients>,
}

impl PreviewRunner {
    pub fn new(config: Arc<ServeConfig>, engine: Engine, github: Arc<Clients>) -> PreviewRunner {
        PreviewRunner {
            config,
            engine,
            github,
        }
    }
}

impl JobRunner for PreviewRunner {
    fn run<'a>(&'a self, job: &'a Job, _: &'a Signals) -> BoxFuture<'a, Result<JobDone, JobError>> {
        Box::pin(async move {
            Err(JobError::permanent(anyhow!("{}: PR runs are not wired yet", job.key)))
        })
    }
}
