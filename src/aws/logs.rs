//! CloudWatch Logs: the tail of a container's log stream (the `awslogs` driver), read only when
//! a task of a deployment stopped, to say why.

use anyhow::Result;
use aws_config::Region;

use super::{error_code, fail, Aws};

/// The last `lines` events of a log stream, oldest first; `None` when the group or the stream
/// does not exist (the container never wrote, or the driver is not `awslogs`).
pub async fn tail(
    aws: &Aws,
    region: &str,
    group: &str,
    stream: &str,
    lines: i32,
) -> Result<Option<Vec<String>>> {
    let out = client(aws, region)
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .start_from_head(false)
        .limit(lines)
        .send()
        .await;
    match out {
        Ok(o) => Ok(Some(
            o.events
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e.message)
                .collect(),
        )),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(fail(
            "logs:GetLogEvents",
            format!("logs:GetLogEvents {group} {stream}"),
            &e,
        )),
    }
}

/// The logs client, in the log group's region when it differs from the default one (the
/// interceptors and HTTP client are kept).
fn client(aws: &Aws, region: &str) -> aws_sdk_cloudwatchlogs::Client {
    let same = aws.logs.config().region().map(|r| r.as_ref()) == Some(region);
    if same || region.is_empty() {
        return aws.logs.clone();
    }
    let conf = aws
        .logs
        .config()
        .to_builder()
        .region(Region::new(region.to_string()))
        .build();
    aws_sdk_cloudwatchlogs::Client::from_conf(conf)
}

/// The console page of a log stream (the console's own escaping of `/` in group and stream).
pub fn console_url(region: &str, group: &str, stream: &str) -> String {
    let esc = |s: &str| {
        s.replace('%', "$2525")
            .replace('/', "$252F")
            .replace('[', "$255B")
            .replace(']', "$255D")
    };
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
        esc(group),
        esc(stream)
    )
}
