//! Waiting for the head commit's image: CI is often still building it when `synchronize`
//! arrives. ECR is polled with backoff (bounded), and a `workflow_run` / `check_suite`
//! completed delivery wakes the wait early. The PR comment says what it waits for.

use std::time::Duration;

use anyhow::{bail, Result};

use super::queue::Signals;
use crate::aws::{ecr, Aws};
use crate::image::ImageRef;
use crate::preview::{Context, Prepared, Status};

const MAX_POLL: Duration = Duration::from_secs(60);

/// The images of `images` not in ECR yet (checked at once, one call per profile).
async fn missing(aws: &Aws, images: &[ImageRef]) -> Result<Vec<String>> {
    let found =
        futures::future::try_join_all(images.iter().map(|i| ecr::image_exists(aws, i))).await?;
    Ok(images
        .iter()
        .zip(found)
        .filter(|(_, exists)| !exists)
        .map(|(i, _)| i.uri.clone())
        .collect())
}

async fn show(ctx: &Context, prepared: &Prepared, status: Status) {
    if let (Some(sticky), Some(e)) = (ctx.sticky(prepared), &prepared.event) {
        if let Err(err) = sticky.show(&ctx.comment_body(prepared, e, status)).await {
            tracing::warn!("updating the PR comment failed: {err:#}");
        }
    }
}

/// Wait until every image of the run exists. `Ok(false)`: told to stop (a newer job, or
/// shutdown) while waiting. `Err`: still missing after `limit` (the comment says so).
pub async fn wait(
    ctx: &Context,
    prepared: &Prepared,
    signals: &Signals,
    first_poll: Duration,
    limit: Duration,
    waits: &tokio::sync::watch::Sender<u64>,
) -> Result<bool> {
    let images: Vec<ImageRef> = prepared
        .targets
        .iter()
        .filter_map(|t| t.image_uri.as_deref())
        .filter_map(|u| ImageRef::parse(u).ok())
        .collect();
    let aws = &ctx.engine.aws;
    let mut still = match missing(aws, &images).await {
        Ok(m) if m.is_empty() => return Ok(true),
        Ok(m) => m,
        // The engine checks the image again and reports the error properly.
        Err(e) => {
            tracing::warn!("checking the images in ECR failed: {e:#}");
            return Ok(true);
        }
    };
    tracing::info!(images = ?still, "waiting for the image(s) to appear in ECR");
    show(ctx, prepared, Status::WaitingForImage(still.join(", "))).await;
    waits.send_modify(|n| *n += 1);
    let deadline = tokio::time::Instant::now() + limit;
    let mut delay = first_poll;
    loop {
        let pause = delay.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = signals.recheck.notified() => tracing::info!("a build finished: looking for the image again"),
            _ = signals.cancel.cancelled() => return Ok(false),
        }
        match missing(aws, &images).await {
            Ok(m) if m.is_empty() => return Ok(true),
            Ok(m) => still = m,
            Err(e) => tracing::warn!("checking the images in ECR failed (will retry): {e:#}"),
        }
        if tokio::time::Instant::now() >= deadline {
            let msg = format!(
                "image {} did not appear in ECR within {} s: is the build that pushes it running, and does the image template in the server configuration match its tag?",
                still.join(", "),
                limit.as_secs()
            );
            show(ctx, prepared, Status::Failed(msg.clone())).await;
            bail!(msg);
        }
        delay = (delay * 2).min(MAX_POLL);
    }
}
