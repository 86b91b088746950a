//! CloudWatch metrics (`aws-sdk-cloudwatch`): the ALB's `RequestCount` of every preview at once,
//! for the idleness decision (`server::idle`). One GetMetricData call carries up to 500 queries
//! (the API's limit); its answer is paged by NextToken.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_smithy_types::DateTime;

use super::{fail, Aws};

/// GetMetricData's limit on queries per call.
pub const QUERIES_PER_CALL: usize = 500;

/// One preview's requests: its target group behind its load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Traffic {
    /// The `TargetGroup` dimension: `targetgroup/<name>/<id>` (the ARN's resource part).
    pub target_group: String,
    /// The `LoadBalancer` dimension: `app/<name>/<id>`.
    pub load_balancer: String,
}

impl Traffic {
    /// The dimensions from a target group ARN and the ARN of the load balancer, a listener
    /// or a listener rule on it (all name the ALB as `app/<name>/<id>`); `None` when either
    /// is not such an ARN.
    pub fn from_arns(target_group_arn: &str, alb_side_arn: &str) -> Option<Traffic> {
        let tg = target_group_arn.split_once(":targetgroup/")?.1;
        let resource = alb_side_arn.rsplit_once(':')?.1;
        let app = resource.split_once("app/")?.1;
        let mut parts = app.split('/');
        let (name, id) = (parts.next()?, parts.next()?);
        if tg.is_empty() || name.is_empty() || id.is_empty() {
            return None;
        }
        Some(Traffic {
            target_group: format!("targetgroup/{tg}"),
            load_balancer: format!("app/{name}/{id}"),
        })
    }
}

/// The requests counted in a window, per preview: for each, the end of the latest period with
/// a request (`None`: no datapoint with a request at all, which means no requests).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LastRequests {
    pub last: HashMap<Traffic, Option<DateTime>>,
    /// GetMetricData calls made (one per 500 queries, and one per further page).
    pub calls: usize,
}

/// The period for a window: whole minutes, at most about 100 datapoints per query.
pub fn period_for(window: Duration) -> i32 {
    let minutes = window.as_secs().div_ceil(60 * 100).max(1);
    (minutes * 60).min(i32::MAX as u64) as i32
}

/// `RequestCount` (Sum) of every preview in `targets` over `[start, end)`, one call per 500.
pub async fn last_requests(
    aws: &Aws,
    targets: &[Traffic],
    start: DateTime,
    end: DateTime,
) -> Result<LastRequests> {
    let window = Duration::from_secs((end.secs() - start.secs()).max(60) as u64);
    let period = period_for(window);
    let mut out = LastRequests::default();
    for chunk in targets.chunks(QUERIES_PER_CALL) {
        let queries: Vec<MetricDataQuery> = chunk
            .iter()
            .enumerate()
            .map(|(i, t)| query(i, t, period))
            .collect();
        let mut token: Option<String> = None;
        let mut last: Vec<Option<DateTime>> = vec![None; chunk.len()];
        loop {
            let answer = aws
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(start)
                .end_time(end)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    fail(
                        "cloudwatch:GetMetricData",
                        "cloudwatch:GetMetricData RequestCount",
                        &e,
                    )
                })?;
            out.calls += 1;
            for r in answer.metric_data_results.unwrap_or_default() {
                let Some(i) = r.id.as_deref().and_then(index_of) else {
                    continue;
                };
                let seen = latest_with_requests(&r.timestamps, &r.values, period);
                if let Some(slot) = last.get_mut(i) {
                    *slot = later(*slot, seen);
                }
            }
            token = answer.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        out.last.extend(chunk.iter().cloned().zip(last));
    }
    Ok(out)
}

fn query(i: usize, t: &Traffic, period: i32) -> MetricDataQuery {
    let dim = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    let metric = Metric::builder()
        .namespace("AWS/ApplicationELB")
        .metric_name("RequestCount")
        .dimensions(dim("TargetGroup", &t.target_group))
        .dimensions(dim("LoadBalancer", &t.load_balancer))
        .build();
    MetricDataQuery::builder()
        .id(format!("q{i}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat("Sum")
                .build(),
        )
        .return_data(true)
        .build()
}

/// `q17` → 17.
fn index_of(id: &str) -> Option<usize> {
    id.strip_prefix('q')?.parse().ok()
}

/// The end of the latest period whose sum is above zero.
fn latest_with_requests(
    times: &Option<Vec<DateTime>>,
    values: &Option<Vec<f64>>,
    period: i32,
) -> Option<DateTime> {
    let (times, values) = (times.as_deref()?, values.as_deref()?);
    times
        .iter()
        .zip(values)
        .filter(|(_, v)| **v > 0.0)
        .map(|(t, _)| DateTime::from_secs(t.secs() + i64::from(period)))
        .max_by_key(|t| t.secs())
}

fn later(a: Option<DateTime>, b: Option<DateTime>) -> Option<DateTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.secs() > a.secs() { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_come_from_the_arns() {
        let tg = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/dev-api-pr-7/73e2d6bc24d8a067";
        let rule = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener-rule/app/eden-previews/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
        let lb = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/eden-previews/50dc6c495c0c9188";
        let want = Traffic {
            target_group: "targetgroup/dev-api-pr-7/73e2d6bc24d8a067".into(),
            load_balancer: "app/eden-previews/50dc6c495c0c9188".into(),
        };
        assert_eq!(Traffic::from_arns(tg, rule), Some(want.clone()));
        assert_eq!(Traffic::from_arns(tg, lb), Some(want));
        assert_eq!(Traffic::from_arns("not-an-arn", lb), None);
        assert_eq!(Traffic::from_arns(tg, "arn:aws:ecs:r:1:service/x"), None);
    }

    #[test]
    fn periods_are_whole_minutes_and_about_a_hundred_per_window() {
        assert_eq!(period_for(Duration::from_secs(30 * 60)), 60);
        assert_eq!(period_for(Duration::from_secs(100 * 60)), 60);
        assert_eq!(period_for(Duration::from_secs(12 * 3600)), 480);
    }

    #[test]
    fn the_latest_period_with_requests_counts_and_zeros_do_not() {
        let t = |s| DateTime::from_secs(s);
        let times = Some(vec![t(600), t(60), t(120)]);
        let values = Some(vec![0.0, 3.0, 1.0]);
        assert_eq!(latest_with_requests(&times, &values, 60), Some(t(180)));
        assert_eq!(
            latest_with_requests(&Some(vec![t(60)]), &Some(vec![0.0]), 60),
            None
        );
        assert_eq!(latest_with_requests(&None, &None, 60), None);
        assert_eq!(later(Some(t(5)), Some(t(9))), Some(t(9)));
        assert_eq!(later(None, Some(t(9))), Some(t(9)));
    }
}
