//! Prometheus metrics: recorded with the `metrics` facade, rendered by `GET /metrics` from a
//! `PrometheusHandle` (no listener of the exporter's own). Every name is here.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide recorder (installed once; later calls return the same handle).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0,
                ])
                .expect("static buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness): keep rendering ours.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// `eden_webhook_deliveries_total{event, outcome}`.
pub fn delivery(event: &str, outcome: &'static str) {
    counter!("eden_webhook_deliveries_total", "event" => event.to_string(), "outcome" => outcome)
        .increment(1);
}

/// `eden_api_requests_total{operation, status}`.
pub fn api_request(operation: &'static str, status: u16) {
    counter!("eden_api_requests_total", "operation" => operation, "status" => status.to_string())
        .increment(1);
}

pub fn queue_depth(depth: usize) {
    gauge!("eden_queue_depth").set(depth as f64);
}

pub fn in_flight(delta: f64) {
    gauge!("eden_jobs_in_flight").increment(delta);
}

/// `eden_jobs_total{kind, outcome}` (outcome `failed` counts errors).
pub fn job_finished(kind: &'static str, outcome: &str) {
    counter!("eden_jobs_total", "kind" => kind, "outcome" => outcome.to_string()).increment(1);
    if outcome == "failed" {
        counter!("eden_errors_total", "source" => "job").increment(1);
    }
}

/// `eden_wait_failures_total{reason}`: deploys that did not become ready, by why
/// (`task_stopped`, `unplaceable`, `rollout_failed`, `unhealthy`, `timeout`, `service_gone`).
pub fn wait_failed(reason: &'static str) {
    counter!("eden_wait_failures_total", "reason" => reason).increment(1);
}

/// Count each run whose wait failed, by its reason (found by type in the error chain).
pub fn wait_failures(report: &crate::preview::Report) {
    for f in report.runs.iter().filter_map(|r| r.wait_failure()) {
        wait_failed(f.kind());
    }
}

pub fn job_retried(kind: &'static str) {
    counter!("eden_job_retries_total", "kind" => kind).increment(1);
}

pub fn job_superseded(kind: &'static str) {
    counter!("eden_jobs_superseded_total", "kind" => kind).increment(1);
}

/// `eden_operation_duration_seconds{operation}` (a histogram).
pub fn job_duration(kind: &'static str, d: Duration) {
    histogram!("eden_operation_duration_seconds", "operation" => kind).record(d.as_secs_f64());
}

pub fn operation_duration(operation: &'static str, d: Duration) {
    histogram!("eden_operation_duration_seconds", "operation" => operation).record(d.as_secs_f64());
}

/// `eden_errors_total{source}`.
pub fn error(source: &'static str) {
    counter!("eden_errors_total", "source" => source).increment(1);
}

/// `eden_sqs_messages_total{outcome}`: `received`, `deleted`, `handed_back`, `malformed`.
pub fn sqs_message(outcome: &'static str) {
    counter!("eden_sqs_messages_total", "outcome" => outcome).increment(1);
}

/// A failed SQS call: `eden_sqs_errors_total{operation}` and `eden_errors_total{source="sqs"}`.
pub fn sqs_error(operation: &'static str) {
    counter!("eden_sqs_errors_total", "operation" => operation).increment(1);
    error("sqs");
}

/// `eden_reconcile_rechecks_total` and `eden_errors_total{source="reconcile"}`.
pub fn reconciled(queued: usize, problems: usize) {
    counter!("eden_reconcile_rechecks_total").increment(queued as u64);
    if problems > 0 {
        counter!("eden_errors_total", "source" => "reconcile").increment(problems as u64);
    }
}

/// `eden_previews{state}`: the previews the last reconcile round listed, by state (`awake`,
/// `asleep`, `waking`; `sleeping` while a sleep is half done).
pub fn previews(counts: &crate::server::sleepers::StateCounts) {
    for (state, n) in counts.by_state() {
        gauge!("eden_previews", "state" => state).set(n as f64);
    }
}

/// `eden_wakes_total{cause}`: previews woken, by why (`request`: the waker; `push`: a deploy to
/// a sleeping preview; `command`: `/eden wake`).
pub fn woke(cause: &'static str) {
    counter!("eden_wakes_total", "cause" => cause).increment(1);
}

/// `eden_wake_to_ready_seconds`: from the start of a wake until the preview forwards again.
pub fn wake_to_ready(d: Duration) {
    histogram!("eden_wake_to_ready_seconds").record(d.as_secs_f64());
}

/// `eden_sleeps_total{cause}`: previews put to sleep (`idle`, `command`).
pub fn slept(cause: &'static str) {
    counter!("eden_sleeps_total", "cause" => cause).increment(1);
}

/// `eden_waker_requests_total{answer}`: the waker's answers (`waking`: 503 for a sleeping
/// preview; `unknown`: 404).
pub fn waker_request(answer: &'static str) {
    counter!("eden_waker_requests_total", "answer" => answer).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_failures_are_counted_by_reason() {
        let h = handle();
        let failure = crate::engine::wait::WaitFailure::Unplaceable {
            event: "(service api) was unable to place a task".into(),
        };
        let report = crate::preview::Report {
            environment: "pr-1".into(),
            decision: crate::github::decide::Decision::Deploy,
            action: crate::preview::PrAction::Failed,
            runs: vec![crate::preview::ProfileRun {
                profile: "api".into(),
                result: Err(anyhow::Error::new(failure).context("not ready")),
            }],
            github: Default::default(),
        };
        wait_failures(&report);
        let text = h.render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("eden_wait_failures_total{reason=\"unplaceable\"}")),
            "{text}"
        );
    }
}
