//! SQS (a FIFO queue of jobs for `eden serve`): send, receive, delete, change visibility, and
//! the approximate counts. Failures come back as [`SqsError`], classified by code and status
//! in [`super::error`], never by message text.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use sha2::{Digest, Sha256};

use super::{describe, error, Aws, AwsErrorKind};

/// The longest MessageGroupId / MessageDeduplicationId SQS accepts.
pub const MAX_ID: usize = 128;

/// A failed SQS call.
#[derive(Debug, thiserror::Error)]
#[error("SQS {operation}: {detail}")]
pub struct SqsError {
    pub operation: &'static str,
    pub kind: AwsErrorKind,
    /// Throttled, a 5xx, or no answer at all (timeout, connection): worth another attempt.
    pub transient: bool,
    pub detail: String,
}

impl SqsError {
    fn new<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &'static str,
        err: SdkError<E, HttpResponse>,
    ) -> SqsError {
        SqsError {
            operation,
            kind: error::kind(&err),
            transient: error::is_transient(&err),
            detail: describe(&err),
        }
    }
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    /// Valid for this receipt only: delete and visibility changes name it.
    pub receipt: String,
    pub body: String,
    pub group: Option<String>,
    /// How many times SQS has handed this message out (1 on the first receive).
    pub receive_count: u32,
}

/// A MessageGroupId / MessageDeduplicationId SQS accepts: printable ASCII (letters, digits,
/// punctuation), at most 128 characters. Other characters become `_`; a longer value keeps its
/// first characters and ends in a hash of the whole, so distinct inputs stay distinct.
pub fn legal_id(raw: &str) -> String {
    let clean: String = raw
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if clean.len() <= MAX_ID && clean == raw {
        return clean;
    }
    if clean.len() <= MAX_ID - 17 {
        // Replaced characters: keep the value unique with a hash of the original.
        return format!("{clean}-{}", hash(raw));
    }
    format!("{}-{}", &clean[..MAX_ID - 17], hash(raw))
}

fn hash(raw: &str) -> String {
    hex::encode(&Sha256::digest(raw.as_bytes())[..8])
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// SendMessage to a FIFO queue: ordered within `group`; a second send with the same
/// `dedup` id within SQS's 5-minute window is accepted and dropped. Returns the message id.
pub async fn send(
    aws: &Aws,
    queue_url: &str,
    group: &str,
    dedup: &str,
    body: String,
) -> Result<String, SqsError> {
    let out = aws
        .sqs
        .send_message()
        .queue_url(queue_url)
        .message_group_id(legal_id(group))
        .message_deduplication_id(legal_id(dedup))
        .message_body(body)
        .send()
        .await
        .map_err(|e| SqsError::new("SendMessage", e))?;
    Ok(out.message_id().unwrap_or_default().to_string())
}

/// ReceiveMessage: a long poll of up to `wait` (at most 20 s) for up to `max` (1–10) messages,
/// each invisible to other receivers for `visibility`.
pub async fn receive(
    aws: &Aws,
    queue_url: &str,
    max: usize,
    wait: Duration,
    visibility: Duration,
) -> Result<Vec<Received>, SqsError> {
    let out = aws
        .sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max.clamp(1, 10) as i32)
        .wait_time_seconds(secs(wait).min(20))
        .visibility_timeout(secs(visibility))
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .map_err(|e| SqsError::new("ReceiveMessage", e))?;
    Ok(out
        .messages()
        .iter()
        .filter_map(|m| {
            let attrs = m.attributes();
            let attr = |n: MessageSystemAttributeName| attrs.and_then(|a| a.get(&n)).cloned();
            Some(Received {
                id: m.message_id()?.to_string(),
                receipt: m.receipt_handle()?.to_string(),
                body: m.body().unwrap_or_default().to_string(),
                group: attr(MessageSystemAttributeName::MessageGroupId),
                receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
            })
        })
        .collect())
}

/// DeleteMessage. A receipt SQS no longer knows (`ReceiptHandleIsInvalid`) is
/// [`AwsErrorKind::NotFound`].
pub async fn delete(aws: &Aws, queue_url: &str, receipt: &str) -> Result<(), SqsError> {
    aws.sqs
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt)
        .send()
        .await
        .map_err(|e| SqsError::new("DeleteMessage", e))?;
    Ok(())
}

/// ChangeMessageVisibility: the message stays invisible for `visibility` from now (zero: it is
/// visible to every receiver at once).
pub async fn change_visibility(
    aws: &Aws,
    queue_url: &str,
    receipt: &str,
    visibility: Duration,
) -> Result<(), SqsError> {
    aws.sqs
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(receipt)
        .visibility_timeout(secs(visibility))
        .send()
        .await
        .map_err(|e| SqsError::new("ChangeMessageVisibility", e))?;
    Ok(())
}

/// The queue's approximate counts (GetQueueAttributes): visible, in flight, delayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// GetQueueAttributes for the three approximate counts (readiness and tests).
pub async fn counts(aws: &Aws, queue_url: &str) -> Result<Counts, SqsError> {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| SqsError::new("GetQueueAttributes", e))?;
    let empty = HashMap::new();
    let attrs = out.attributes().unwrap_or(&empty);
    let n = |a: QueueAttributeName| {
        attrs
            .get(&a)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Counts {
        visible: n(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_legal_and_distinct() {
        assert_eq!(legal_id("octo-org/shop#42"), "octo-org/shop#42");
        let spaced = legal_id("a b");
        assert!(spaced.starts_with("a_b-") && spaced.len() == 3 + 17);
        assert_ne!(legal_id("a b"), legal_id("a_b"));
        let long = format!("{}/{}#7", "o".repeat(39), "r".repeat(100));
        let id = legal_id(&long);
        assert_eq!(id.len(), MAX_ID);
        assert!(id.chars().all(|c| c.is_ascii_graphic()));
        let other = legal_id(&format!("{}/{}#8", "o".repeat(39), "r".repeat(100)));
        assert_ne!(id, other);
        assert_eq!(legal_id(&"x".repeat(MAX_ID)), "x".repeat(MAX_ID));
        let non_ascii = legal_id("é/ü#1");
        assert!(non_ascii.is_ascii() && non_ascii.len() <= MAX_ID);
    }
}
