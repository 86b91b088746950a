//! `eden create --wait` as a user runs it, against the emulator: ready (with the reads moto
//! cannot answer — a running task, a healthy target — answered by a loopback endpoint in front
//! of it), the flags, the timeout's failure on stderr with exit 1, and the JSON's `wait`.

mod common;

use common::*;

#[test]
fn help_explains_wait_timeout() {
    let home = tempfile::tempdir().unwrap();
    let (code, out, _) = eden_cli(home.path(), &["create", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--wait-timeout <DURATION>"), "{out}");
    assert!(out.contains("`90s`"), "{out}");
    assert!(out.contains("[default: 10m]"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_wait_fails_with_exit_1_and_the_reason() {
    let w = World::new("wcli").await;
    let dir = tempfile::tempdir().unwrap();
    let config = w.write_config(dir.path());
    let config = config.to_str().unwrap();
    let image = w.image("api", "sha-1");
    let table = w.table.clone();
    // 1 s is shorter than a poll interval: one poll, then the timeout's report
    let args = |output: &'static str| {
        vec![
            "-c".to_string(),
            config.to_string(),
            "--remote-table-name".into(),
            table.clone(),
            "-p".into(),
            "api".into(),
            "create".into(),
            "--name".into(),
            "pr-3".into(),
            "--image-uri".into(),
            image.clone(),
            "--wait".into(),
            "--wait-timeout".into(),
            "1s".into(),
            "--output".into(),
            output.into(),
        ]
    };
    let text = args("text");
    let text: Vec<&str> = text.iter().map(String::as_str).collect();
    let (code, out, err) = eden_cli(dir.path(), &text);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("is deployed but not ready: not ready after 1 s: starting task (0/1 running)"),
        "{err}"
    );
    assert!(!out.contains("ready:"), "{out}");

    let json = args("json");
    let json: Vec<&str> = json.iter().map(String::as_str).collect();
    let (code, out, err) = eden_cli(dir.path(), &json);
    assert_eq!(code, 1, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["action"], "deployed");
    assert_eq!(v["wait"]["ready"], false);
    assert_eq!(v["wait"]["failure"]["kind"], "timeout");
    assert_eq!(
        v["wait"]["failure"]["waiting_for"],
        "starting task (0/1 running)"
    );
    assert!(err.contains("not ready after 1 s"), "{err}");
}

#[test]
fn wait_timeout_needs_wait_and_a_duration() {
    let home = tempfile::tempdir().unwrap();
    let base = ["create", "--name", "x", "--image-uri", "y"];
    let (code, _, err) = eden_cli(
        home.path(),
        &[&base[..], &["--wait-timeout", "90s"]].concat(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--wait"), "{err}");
    let (code, _, err) = eden_cli(
        home.path(),
        &[&base[..], &["--wait", "--wait-timeout", "soon"]].concat(),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a duration"), "{err}");
}

/// A loopback endpoint in front of the emulator that answers four reads as a steady ECS service
/// and ALB would once the new task serves (moto runs no task and never reports a healthy
/// target), and forwards every other request to the emulator (one request per connection).
/// DescribeServices is answered only once the create has made the service (its CreateService
/// went through): the create's own reads of the reference and of the preview stay moto's.
async fn steady_rollout(upstream: String) -> String {
    let created = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.trim_start_matches("http://").to_string();
            let created = created.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 16 * 1024];
                let end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    let n = client.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < end + length {
                    let n = client.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&buf[end..]).to_string();
                let made = created.load(std::sync::atomic::Ordering::SeqCst);
                if head.contains("x-amz-target: amazonec2containerservicev20141113.createservice") {
                    created.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                let answer = match steady_answer(&head, &body, made) {
                    Some((content_type, answer)) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-amzn-requestid: 0e1f2a3b-eden-test\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    )
                    .into_bytes(),
                    None => {
                        let mut server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                        let head = String::from_utf8_lossy(&buf[..end - 2]).to_string();
                        let head: String = head
                            .lines()
                            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                            .map(|l| format!("{l}\r\n"))
                            .collect();
                        server.write_all(format!("{head}connection: close\r\n\r\n").as_bytes()).await.unwrap();
                        server.write_all(&buf[end..]).await.unwrap();
                        let mut out = Vec::new();
                        server.read_to_end(&mut out).await.unwrap();
                        out
                    }
                };
                let _ = client.write_all(&answer).await;
                let _ = client.shutdown().await;
            });
        }
    });
    url
}

/// (content type, body) for the reads a steady rollout answers itself.
fn steady_answer(head: &str, body: &str, created: bool) -> Option<(&'static str, String)> {
    const TD: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/steady:2";
    const TASK: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task/dev/0f3c2b7e9d8a4c1b";
    let ecs = |op: &str| {
        head.contains(&format!(
            "x-amz-target: amazonec2containerservicev20141113.{op}"
        ))
    };
    let json = "application/x-amz-json-1.1";
    if ecs("describeservices") && created {
        let v = serde_json::json!({ "services": [{
            "serviceName": "steady", "status": "ACTIVE", "desiredCount": 1, "runningCount": 1,
            "deployments": [{ "id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": TD,
                "desiredCount": 1, "runningCount": 1, "failedTasks": 0, "createdAt": 1764900000.0,
                "rolloutState": "IN_PROGRESS" }],
            "events": [] }], "failures": [] });
        return Some((json, v.to_string()));
    }
    if ecs("listtasks") {
        let running = !body.contains("STOPPED");
        let arns: Vec<&str> = if running { vec![TASK] } else { vec![] };
        return Some((json, serde_json::json!({ "taskArns": arns }).to_string()));
    }
    if ecs("describetasks") {
        let v = serde_json::json!({ "tasks": [{ "taskArn": TASK, "taskDefinitionArn": TD,
            "lastStatus": "RUNNING", "desiredStatus": "RUNNING",
            "attachments": [{ "type": "ElasticNetworkInterface", "status": "ATTACHED",
                "details": [{ "name": "privateIPv4Address", "value": "10.0.2.20" }] }],
            "containers": [{ "name": "app", "lastStatus": "RUNNING" }] }], "failures": [] });
        return Some((json, v.to_string()));
    }
    if body.contains("Action=DescribeTargetHealth") {
        return Some(("text/xml", "<DescribeTargetHealthResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><DescribeTargetHealthResult><TargetHealthDescriptions><member><Target><Id>10.0.2.20</Id><Port>8080</Port></Target><HealthCheckPort>8080</HealthCheckPort><TargetHealth><State>healthy</State></TargetHealth></member></TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>0e1f2a3b-eden-test</RequestId></ResponseMetadata></DescribeTargetHealthResponse>".to_string()));
    }
    None
}

/// As a new user runs it: `eden create --wait` prints `ready: URL` and exits 0 once the new
/// task runs and its target is healthy (the four reads moto cannot answer so come from
/// `steady_rollout`; the create, the DNS change's INSYNC and the rest are the emulator's). The
/// binary polls on the wall clock: ready on its second poll, 5 s in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_wait_prints_ready() {
    let w = World::new("wrdy").await;
    let dir = tempfile::tempdir().unwrap();
    let config = w.write_config(dir.path());
    let endpoint = steady_rollout(endpoint()).await;
    let image = w.image("api", "sha-1");
    let args = [
        "-c",
        config.to_str().unwrap(),
        "--remote-table-name",
        &w.table,
        "-p",
        "api",
        "create",
        "--name",
        "pr-4",
        "--image-uri",
        &image,
        "--wait",
        "--wait-timeout",
        "60s",
    ];
    let out = eden_process(dir.path(), &endpoint, &args, &[])
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let url = format!("https://api-pr-4.{}", w.s(&["zone_name"]));
    assert!(
        stdout.ends_with(&format!("ready: {url}\n")),
        "{stdout}\n{stderr}"
    );
}
