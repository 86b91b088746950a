//! S3: one object read and one conditional write, with the answers told apart by kind.
//!
//! Real S3 answers **403 AccessDenied** (not 404) for a missing key when the caller lacks
//! `s3:ListBucket` on the bucket, so "denied" on a read may mean "absent": [`Read::Denied`]
//! leaves that to the caller, who settles it with a conditional create (`If-None-Match: *`).

use super::fail;
use anyhow::{anyhow, Result};
use aws_sdk_s3::primitives::ByteStream;

use super::{kind, Aws, AwsErrorKind};

/// The outcome of a GetObject.
#[derive(Debug)]
pub enum Read {
    Found {
        body: Vec<u8>,
        etag: Option<String>,
    },
    Missing,
    /// 403: either a real denial of `s3:GetObject`, or a missing key without `s3:ListBucket`.
    Denied,
}

/// Which version a conditional write expects.
#[derive(Debug, Clone)]
pub enum Expect {
    /// `If-Match: <etag>`: the object is still the version read.
    Version(String),
    /// `If-None-Match: *`: the object does not exist.
    Absent,
}

/// The outcome of a conditional PutObject.
#[derive(Debug, PartialEq, Eq)]
pub enum Write {
    Written,
    /// 412, 409, or 404 (If-Match on a key deleted meanwhile): re-read and retry.
    Stale,
    Denied,
}

pub async fn read(aws: &Aws, bucket: &str, key: &str) -> Result<Read> {
    match aws.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let etag = out.e_tag.clone();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| anyhow!("reading s3://{bucket}/{key} failed: {e}"))?
                .into_bytes()
                .to_vec();
            Ok(Read::Found { body, etag })
        }
        Err(e) => match kind(&e) {
            AwsErrorKind::NotFound => Ok(Read::Missing),
            AwsErrorKind::AccessDenied => Ok(Read::Denied),
            _ => Err(fail(
                "s3:GetObject",
                format!("reading s3://{bucket}/{key}"),
                &e,
            )),
        },
    }
}

pub async fn write(
    aws: &Aws,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    expect: Expect,
) -> Result<Write> {
    let put = aws
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body));
    let put = match expect {
        Expect::Version(tag) => put.if_match(tag),
        Expect::Absent => put.if_none_match("*"),
    };
    match put.send().await {
        Ok(_) => Ok(Write::Written),
        Err(e) => match kind(&e) {
            AwsErrorKind::PreconditionFailed | AwsErrorKind::Conflict | AwsErrorKind::NotFound => {
                Ok(Write::Stale)
            }
            AwsErrorKind::AccessDenied => Ok(Write::Denied),
            _ => Err(fail(
                "s3:PutObject",
                format!("writing s3://{bucket}/{key}"),
                &e,
            )),
        },
    }
}
